/*
 * libFuzzer target for the roster model.  Arbitrary bytes are fed to:
 *  - roster_from_snapshot(): whatever it accepts must re-serialize to a
 *    snapshot that reads back to the same bytes, diff(r, r) must be empty
 *    and apply(empty, diff(NULL, r)) must give r again;
 *  - the Clever parsers (as a user envelope and as list pages, with both
 *    field sets) and roster_finish(), then the same snapshot checks;
 *  - roster_apply() as a diff onto a small fixed roster: refused, or the
 *    result must be a valid snapshot.
 * Any violated property aborts.  Build: meson setup -Dfuzz=true (clang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "roster.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char base_snapshot[] =
    "{\"format\":1,\"version\":7,\"fields\":\"library\",\"authorized_by\":"
    "\"teacher\",\"district\":null,\"teacher\":{\"id\":\"t\",\"first\":"
    "\"Ann\",\"last\":\"L\",\"grade\":\"\"},\"sections\":[{\"id\":\"a\","
    "\"name\":\"A\",\"section_number\":\"\",\"subject\":\"math\",\"grade\":"
    "\"\",\"teachers\":[\"t\"],\"students\":[\"u1\",\"u2\"]},{\"id\":\"b\","
    "\"name\":\"B\",\"section_number\":\"\",\"subject\":\"math\",\"grade\":"
    "\"\",\"teachers\":[\"t\"],\"students\":[\"u2\"]}],\"students\":[{\"id\":"
    "\"u1\",\"first\":\"F\",\"last\":\"L\",\"grade\":\"\"},{\"id\":\"u2\","
    "\"first\":\"F\",\"last\":\"L\",\"grade\":\"\"}]}";

#define CHECK(cond)	do {						\
	if (!(cond)) {							\
		fprintf(stderr, "property failed: %s (line %d)\n",	\
		    #cond, __LINE__);					\
		abort();						\
	}								\
} while (0)

static struct roster *
reread(const struct roster *r, char **textp)
{
	struct roster	*back;
	char		*s, err[256];
	size_t		 len;

	s = roster_snapshot(r, &len);
	back = roster_from_snapshot(s, len, err, sizeof(err));
	if (back == NULL)
		fprintf(stderr, "snapshot not readable: %s\n%s\n", err, s);
	CHECK(back != NULL);
	*textp = s;
	return back;
}

/* The properties every valid roster has. */
static void
check_roster(const struct roster *r)
{
	struct roster	*back, *fresh;
	json_object	*d;
	char		*s1, *s2, err[256];

	back = reread(r, &s1);
	s2 = roster_snapshot(back, NULL);
	CHECK(strcmp(s1, s2) == 0);
	free(s2);

	d = roster_diff(back, back);
	CHECK(roster_diff_is_empty(d));
	json_object_put(d);

	d = roster_diff(NULL, back);
	fresh = roster_new(ROSTER_FIELDS_LIBRARY);
	if (roster_apply(fresh, d, err, sizeof(err)) != 0) {
		fprintf(stderr, "apply from nothing: %s\n", err);
		abort();
	}
	back->version = 1;
	s2 = roster_snapshot(fresh, NULL);
	free(s1);
	s1 = roster_snapshot(back, NULL);
	CHECK(strcmp(s1, s2) == 0);
	free(s1);
	free(s2);
	json_object_put(d);
	roster_free(fresh);
	roster_free(back);
}

static void
fuzz_snapshot(const char *data, size_t size)
{
	struct roster	*r;
	char		 err[256];

	r = roster_from_snapshot(data, size, err, sizeof(err));
	if (r == NULL) {
		CHECK(err[0] != '\0');
		return;
	}
	check_roster(r);
	roster_free(r);
}

static void
fuzz_clever(json_object *o, enum roster_fieldset f)
{
	struct roster	*r = roster_new(f);
	char		 err[256];

	roster_set_auth(r, "teacher", NULL);
	(void)roster_set_teacher(r, o, err, sizeof(err));
	(void)roster_add_sections(r, o, err, sizeof(err));
	(void)roster_add_students(r, o, err, sizeof(err));
	if (roster_finish(r, 0, err, sizeof(err)) == 0)
		check_roster(r);
	else
		CHECK(err[0] != '\0');
	roster_free(r);
}

static void
fuzz_apply(json_object *o)
{
	struct roster	*base, *back;
	char		 err[256], *s;

	base = roster_from_snapshot(base_snapshot, sizeof(base_snapshot) - 1,
	    err, sizeof(err));
	CHECK(base != NULL);
	if (roster_apply(base, o, err, sizeof(err)) == 0) {
		back = reread(base, &s);
		free(s);
		roster_free(back);
	} else
		CHECK(err[0] != '\0');
	roster_free(base);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_snapshot", LOG_LVL_ERR, LOG_TARGET_STDERR);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener	*tok;
	json_object		*o;

	fuzz_snapshot((const char *)data, size);
	if (size > INT32_MAX)
		return 0;
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (o == NULL)
		return 0;
	fuzz_clever(o, ROSTER_FIELDS_LIBRARY);
	fuzz_clever(o, ROSTER_FIELDS_DISTRICT);
	fuzz_apply(o);
	json_object_put(o);
	return 0;
}
