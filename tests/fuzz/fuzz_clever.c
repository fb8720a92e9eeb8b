/*
 * libFuzzer target: Clever responses through the path the daemon's bodies
 * take.  The body is handed to http_body_add() in chunks of random sizes
 * (as curl's write callback gets them), parsed by http_body_parse() once
 * complete, and what parses goes to the roster code as sync.c gives it:
 * the teacher, a sections page or a students page (the first input byte
 * chooses), then roster_finish() and the snapshot.  Properties: the
 * chunking never changes the outcome; a body over the limit is refused;
 * nothing crashes or leaks.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "http.h"
#include "roster.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_BODY	(256 * 1024)

/* The body in chunks whose sizes come from seed; NULL if refused. */
static json_object *
feed(const uint8_t *p, size_t n, uint32_t seed, int *refused,
    const char **err)
{
	struct http_body	 b;
	json_object		*o;
	size_t			 k;

	http_body_init(&b, MAX_BODY);
	*refused = 0;
	while (n > 0) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		k = 1 + seed % 4096;
		if (k > n)
			k = n;
		if (http_body_add(&b, (const char *)p, k) == -1) {
			*refused = 1;
			http_body_free(&b);
			return NULL;
		}
		p += k;
		n -= k;
	}
	o = http_body_parse(&b, err);
	http_body_free(&b);
	return o;
}

static void
into_roster(json_object *o, int kind)
{
	struct roster	*r;
	char		 err[256], *snap;
	int		 rc;

	if (!json_object_is_type(o, json_type_object))
		return;		/* sync.c refuses it before the roster */
	r = roster_new(kind & 4 ? ROSTER_FIELDS_DISTRICT :
	    ROSTER_FIELDS_LIBRARY);
	switch (kind & 3) {
	case 0:
		rc = roster_set_teacher(r, o, err, sizeof(err));
		break;
	case 1:
		rc = roster_add_sections(r, o, err, sizeof(err));
		break;
	default:
		rc = roster_add_students(r, o, err, sizeof(err));
		break;
	}
	if (rc == 0 && roster_finish(r, 0, err, sizeof(err)) == 0) {
		snap = roster_snapshot(r, NULL);
		free(snap);
	}
	roster_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_object	*a, *b;
	const char	*ea, *eb;
	int		 ra, rb, kind;
	uint32_t	 seed;

	if (size < 2)
		return 0;
	kind = data[0];
	seed = 0x9e3779b9u ^ data[1];
	data += 2;
	size -= 2;
	a = feed(data, size, seed, &ra, &ea);
	b = feed(data, size, 1, &rb, &eb);	/* in other chunks */
	if (ra != rb || (a == NULL) != (b == NULL) ||
	    (ra != (size > MAX_BODY)))
		abort();
	if (a != NULL && strcmp(json_object_to_json_string(a),
	    json_object_to_json_string(b)) != 0)
		abort();
	if (a == NULL && !ra && size > 0 && ea == NULL)
		abort();		/* a body refused without a reason */
	if (a != NULL)
		into_roster(a, kind);
	json_object_put(a);
	json_object_put(b);
	return 0;
}
