/*
 * Roster diffs.  A seeded property test over thousands of random roster
 * pairs built through the Clever parsers: apply(old, diff(old, new)) ==
 * new byte for byte, diff(a, a) is empty, snapshots round-trip, diffs are
 * deterministic, chains of diffs replay from nothing, and mutated diffs
 * never crash nor leave an invalid roster.  Plus the documented diff
 * format, strictness of apply, counts and the shrink guard.
 *
 * ROSTER_PROPERTY_SEED and ROSTER_PROPERTY_ITERATIONS override the seed
 * and the number of pairs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "roster.h"

#define NSEC	10
#define NSTU	48

static uint64_t	rng_state;

static uint64_t
rnd64(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static unsigned
rnd(unsigned n)
{
	return (unsigned)(rnd64() % n);
}

static uint64_t
env_u64(const char *name, uint64_t dflt)
{
	const char	*s = getenv(name);

	return s != NULL && *s != '\0' ? strtoull(s, NULL, 0) : dflt;
}

/*
 * A world from which a roster is built: which entities exist and a seed per
 * entity whose nibbles choose each attribute, so flipping one nibble
 * changes one field.
 */
struct world {
	enum roster_fieldset	fields;
	unsigned		auth;
	int			sections_only;
	unsigned		select;		/* 0 all, 1 picked, 2 none */
	uint64_t		teacher;
	uint64_t		sec[NSEC];	/* 0 = absent */
	uint64_t		stu[NSTU];	/* 0 = absent */
	uint8_t			enr[NSEC][NSTU];
	uint8_t			picked[NSEC];
	int			dup_pages;
};

static unsigned
nib(uint64_t seed, unsigned k)
{
	return (unsigned)(seed >> (4 * k)) & 15;
}

#define PICK(pool, seed, k)	pool[nib(seed, k) % (sizeof(pool) / sizeof(pool[0]))]

static const char *const firsts[] = { "Ann", "Bo", " Cy ", "D\xc3\xa9", "",
    "Zo\xc3\xab", "Al\"x" };
static const char *const middles[] = { NULL, "M", " ", "Q." };
static const char *const lasts[] = { "Lee", "Ng", "\xc3\x93la", "  Smith",
    "", "\"Q", "lee" };
static const char *const emails[] = { NULL, "a@b.c", "A@B.C", "x@y.z", "" };
static const char *const grades[] = { "", "K", "1", "09", "Grade 3", "PK",
    "12", "Other", "weird", NULL, "TK" };
static const char *const subjects[] = { "", "Math", "ELA", "science",
    "Lunch", NULL, "PE", "Arts & Music" };
static const char *const snames[] = { "Algebra", "Art / Design", "",
    "Homeroom 7", ("\xc3\x9cn\xc3\xaf" "code"), " padded " };
static const char *const snums[] = { "", "1", "7B", NULL };
static const char *const schools[] = { NULL, "sch1", "sch2" };
static const char *const teacher_sets[][3] = {
	{ "t0", NULL, NULL }, { "t0", "t1", NULL }, { "t1", "t0", NULL },
	{ NULL, NULL, NULL }, { "t2", "t0", "t2" },
};

static void
world_random(struct world *w)
{
	unsigned	i, j, density = 1 + rnd(4);

	memset(w, 0, sizeof(*w));
	w->fields = rnd(3) == 0 ? ROSTER_FIELDS_DISTRICT :
	    ROSTER_FIELDS_LIBRARY;
	w->auth = rnd(3);
	w->sections_only = rnd(12) == 0;
	w->select = rnd(8) == 0 ? 1 + rnd(2) : 0;
	w->teacher = rnd64() | 1;
	w->dup_pages = rnd(4) == 0;
	for (i = 0; i < NSEC; i++) {
		w->sec[i] = rnd(3) != 0 ? rnd64() | 1 : 0;
		w->picked[i] = rnd(2);
		for (j = 0; j < NSTU; j++)
			w->enr[i][j] = rnd(10) < density;
	}
	for (j = 0; j < NSTU; j++)
		w->stu[j] = rnd(10) != 0 ? rnd64() | 1 : 0;
}

/* A non-zero nibble at a random one of the first n positions. */
static uint64_t
one_nibble(unsigned n)
{
	uint64_t	v = 1 + rnd(15);	/* sequenced: seeds replay */

	return v << (4 * rnd(n));
}

static void
mutate_seed(uint64_t *seed)
{
	switch (rnd(4)) {
	case 0:
		*seed = *seed == 0 ? rnd64() | 1 : 0;	/* appear/vanish */
		break;
	case 1:
		*seed = rnd64() | 1;			/* many fields */
		break;
	default:
		if (*seed != 0)				/* one field */
			*seed ^= one_nibble(10);
		break;
	}
}

/* A later state of the same teacher: a few things change. */
static void
world_mutate(struct world *w)
{
	unsigned	i, j, n = rnd(8);

	while (n-- > 0) {
		switch (rnd(7)) {
		case 0:
			mutate_seed(&w->sec[rnd(NSEC)]);
			break;
		case 1:
		case 2:
			mutate_seed(&w->stu[rnd(NSTU)]);
			break;
		case 3:
			i = rnd(NSEC);
			j = rnd(NSTU);
			w->enr[i][j] = !w->enr[i][j];
			break;
		case 4:
			w->teacher ^= one_nibble(8);
			break;
		case 5:
			if (rnd(4) == 0)
				w->auth = rnd(3);
			if (rnd(8) == 0)
				w->fields = !w->fields;
			break;
		default:
			w->picked[rnd(NSEC)] ^= 1;
			if (rnd(10) == 0)
				w->select = rnd(3);
			break;
		}
	}
	w->sections_only = rnd(12) == 0;
	w->dup_pages = rnd(4) == 0;
}

static void
add_str(json_object *o, const char *key, const char *s)
{
	if (s != NULL)
		json_object_object_add(o, key, json_object_new_string(s));
}

static json_object *
envelope(json_object *data)
{
	json_object	*e = json_object_new_object();

	json_object_object_add(e, "data", data);
	return e;
}

static json_object *
teacher_json(uint64_t t)
{
	json_object	*d, *name, *roles, *role;

	d = json_object_new_object();
	add_str(d, "id", nib(t, 0) < 2 ? "t1" : "t0");
	name = json_object_new_object();
	add_str(name, "first", PICK(firsts, t, 1));
	add_str(name, "middle", PICK(middles, t, 2));
	add_str(name, "last", PICK(lasts, t, 3));
	json_object_object_add(d, "name", name);
	add_str(d, "email", PICK(emails, t, 4));
	roles = json_object_new_object();
	role = json_object_new_object();
	add_str(role, "school", PICK(schools, t, 5));
	add_str(role, "title", nib(t, 6) < 8 ? "Teacher" : "Coach");
	json_object_object_add(roles, "teacher", role);
	json_object_object_add(d, "roles", roles);
	return envelope(d);
}

static json_object *
section_json(const struct world *w, unsigned i)
{
	uint64_t	 s = w->sec[i];
	json_object	*d, *a, *ext;
	const char	*const *ts = teacher_sets[nib(s, 4) % 5];
	char		 buf[32];
	unsigned	 j;

	d = json_object_new_object();
	snprintf(buf, sizeof(buf), "s%02u", i);
	add_str(d, "id", buf);
	add_str(d, "name", PICK(snames, s, 0));
	add_str(d, "section_number", PICK(snums, s, 1));
	add_str(d, "subject", PICK(subjects, s, 2));
	add_str(d, "grade", PICK(grades, s, 3));
	add_str(d, "teacher", ts[0]);
	a = json_object_new_array();
	for (j = 0; j < 3; j++) {
		if (ts[j] != NULL)
			json_object_array_add(a, json_object_new_string(ts[j]));
	}
	json_object_object_add(d, "teachers", a);
	a = json_object_new_array();
	for (j = NSTU; j-- > 0;) {	/* Clever order is not ours */
		if (!w->enr[i][j])
			continue;
		snprintf(buf, sizeof(buf), "u%03u", j);
		json_object_array_add(a, json_object_new_string(buf));
	}
	if (nib(s, 8) == 0)
		json_object_array_add(a, json_object_new_string("ghost"));
	json_object_object_add(d, "students", a);
	add_str(d, "period", nib(s, 5) < 8 ? "1" : "2");
	if (nib(s, 6) < 12) {
		ext = json_object_new_object();
		add_str(ext, "zeta", nib(s, 6) < 6 ? "A1" : "B2");
		json_object_object_add(ext, "alpha",
		    json_object_new_int((int)nib(s, 7)));
		json_object_object_add(d, "ext", ext);
	}
	snprintf(buf, sizeof(buf), "sis%u", nib(s, 7));
	add_str(d, "sis_id", buf);
	return envelope(d);
}

static json_object *
student_json(const struct world *w, unsigned j)
{
	uint64_t	 u = w->stu[j];
	json_object	*d, *name, *roles, *role;
	char		 buf[32];

	d = json_object_new_object();
	snprintf(buf, sizeof(buf), "u%03u", j);
	add_str(d, "id", buf);
	name = json_object_new_object();
	add_str(name, "first", PICK(firsts, u, 0));
	add_str(name, "last", PICK(lasts, u, 1));
	add_str(name, "middle", PICK(middles, u, 2));
	json_object_object_add(d, "name", name);
	add_str(d, "email", PICK(emails, u, 3));
	roles = json_object_new_object();
	role = json_object_new_object();
	add_str(role, "grade", PICK(grades, u, 4));
	snprintf(buf, sizeof(buf), "%u", nib(u, 5));
	add_str(role, "student_number", buf);
	add_str(role, "school", PICK(schools, u, 6));
	json_object_object_add(roles, nib(u, 7) == 15 ? "teacher" : "student",
	    role);
	json_object_object_add(d, "roles", roles);
	return envelope(d);
}

static json_object *
page(json_object *items)
{
	json_object	*p = json_object_new_object();

	json_object_object_add(p, "data", items);
	json_object_object_add(p, "links", json_object_new_array());
	return p;
}

static void
must(int rc, const char *what, const char *err)
{
	if (rc != 0)
		fail_msg("%s: %s", what, err);
}

static void
select_sections(struct roster *r, const struct world *w)
{
	const char	*ids[NSEC];
	char		 bufs[NSEC][8];
	size_t		 n = 0;
	unsigned	 i;

	if (w->select == 0)
		return;
	for (i = 0; w->select == 1 && i < NSEC; i++) {
		if (!w->picked[i])
			continue;
		snprintf(bufs[n], sizeof(bufs[n]), "s%02u", i);
		ids[n] = bufs[n];
		n++;
	}
	roster_select_sections(r, ids, n);
}

static struct roster *
build(const struct world *w)
{
	static const char *const auth[][2] = {
		{ "teacher", NULL }, { "district", "d1" }, { NULL, NULL }
	};
	struct roster	*r = roster_new(w->fields);
	json_object	*o, *items;
	char		 err[256];
	unsigned	 i, pass;

	roster_set_auth(r, auth[w->auth][0], auth[w->auth][1]);
	o = teacher_json(w->teacher);
	must(roster_set_teacher(r, o, err, sizeof(err)), "teacher", err);
	json_object_put(o);
	items = json_object_new_array();
	for (i = 0; i < NSEC; i++) {
		if (w->sec[i] != 0)
			json_object_array_add(items, section_json(w, i));
	}
	o = page(items);
	for (pass = 0; pass <= (unsigned)w->dup_pages; pass++)
		must(roster_add_sections(r, o, err, sizeof(err)), "sections",
		    err);
	json_object_put(o);
	select_sections(r, w);
	items = json_object_new_array();
	for (i = 0; i < NSTU; i++) {
		if (w->stu[i] != 0)
			json_object_array_add(items, student_json(w, i));
	}
	o = page(items);
	for (pass = 0; pass <= (unsigned)w->dup_pages; pass++)
		must(roster_add_students(r, o, err, sizeof(err)), "students",
		    err);
	json_object_put(o);
	must(roster_finish(r, w->sections_only ?
	    ROSTER_FINISH_SECTIONS_ONLY : 0, err, sizeof(err)), "finish", err);
	return r;
}

static struct roster *
copy(const struct roster *r)
{
	struct roster	*c;
	char		*s, err[256];
	size_t		 len;

	s = roster_snapshot(r, &len);
	c = roster_from_snapshot(s, len, err, sizeof(err));
	if (c == NULL)
		fail_msg("copy: %s\n%s", err, s);
	free(s);
	return c;
}

static void
assert_same(const struct roster *a, const struct roster *b, const char *what)
{
	char	*sa = roster_snapshot(a, NULL), *sb = roster_snapshot(b, NULL);

	if (strcmp(sa, sb) != 0)
		fail_msg("%s differ (seed %llu):\n  %s\n  %s", what,
		    (unsigned long long)rng_state, sa, sb);
	free(sa);
	free(sb);
}

static void
check_round_trip(const struct roster *r)
{
	struct roster	*c = copy(r);

	assert_same(r, c, "round trip");
	roster_free(c);
}

static const char *
diff_string(json_object *d)
{
	return json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Apply the diff as an app would: from its serialized form. */
static int
apply_text(struct roster *base, json_object *d, char *err, size_t errlen)
{
	json_object	*parsed = json_tokener_parse(diff_string(d));
	int		 rc;

	assert_non_null(parsed);
	rc = roster_apply(base, parsed, err, errlen);
	json_object_put(parsed);
	return rc;
}

static int
is_empty_roster(const struct roster *r)
{
	return r->teacher.id == NULL && r->nsections == 0 &&
	    r->nstudents == 0;
}

static unsigned	mutations_applied, mutations_rejected;

/* Every node of a JSON tree, with its parent and place in it. */
struct node {
	json_object	*parent;
	const char	*key;		/* object member, or NULL */
	size_t		 idx;		/* array index */
};

static void
collect(json_object *o, struct node *nodes, size_t *n, size_t max)
{
	struct json_object_iterator	it, end;
	size_t				i;

	if (json_object_is_type(o, json_type_object)) {
		it = json_object_iter_begin(o);
		end = json_object_iter_end(o);
		for (; !json_object_iter_equal(&it, &end);
		    json_object_iter_next(&it)) {
			if (*n == max)
				return;
			nodes[(*n)++] = (struct node){ o,
			    json_object_iter_peek_name(&it), 0 };
			collect(json_object_iter_peek_value(&it), nodes, n,
			    max);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (i = 0; i < json_object_array_length(o); i++) {
			if (*n == max)
				return;
			nodes[(*n)++] = (struct node){ o, NULL, i };
			collect(json_object_array_get_idx(o, i), nodes, n, max);
		}
	}
}

static json_object *
random_value(void)
{
	static const char *const strs[] = { "", "x", "s00", "u001", "t0",
	    "math", "9", "library", "district" };

	switch (rnd(6)) {
	case 0:
		return NULL;
	case 1:
		return json_object_new_int((int)rnd(3));
	case 2:
		return json_object_new_object();
	case 3:
		return json_object_new_array();
	default:
		return json_object_new_string(strs[rnd(9)]);
	}
}

/* Damage one node of d at random. */
static void
mutate_diff(json_object *d)
{
	struct node	nodes[4096], *nd;
	size_t		n = 0;

	collect(d, nodes, &n, 4096);
	if (n == 0)
		return;
	nd = &nodes[rnd((unsigned)n)];
	if (nd->key != NULL) {
		if (rnd(3) == 0)
			json_object_object_del(nd->parent, nd->key);
		else
			json_object_object_add(nd->parent, nd->key,
			    random_value());
	} else {
		if (rnd(3) == 0)
			json_object_array_del_idx(nd->parent, nd->idx, 1);
		else
			json_object_array_put_idx(nd->parent, nd->idx,
			    random_value());
	}
}

/* A damaged diff is refused or gives a valid roster; never a crash. */
static void
check_mutated(const struct roster *a, json_object *d)
{
	struct roster	*base = copy(a), *c;
	json_object	*m = json_tokener_parse(diff_string(d));
	char		 err[256];

	mutate_diff(m);
	if (roster_apply(base, m, err, sizeof(err)) == 0) {
		mutations_applied++;
		c = copy(base);		/* fails the test if invalid */
		roster_free(c);
	} else {
		assert_true(err[0] != '\0');
		mutations_rejected++;
	}
	json_object_put(m);
	roster_free(base);
}

static void
check_pair(struct roster *a, struct roster *b)
{
	struct roster			*base, *fresh;
	struct roster_diff_counts	 n;
	json_object			*d, *d2, *same;
	char				*sd, err[256], *sa, *sb;

	check_round_trip(a);
	check_round_trip(b);

	same = roster_diff(a, a);
	if (!roster_diff_is_empty(same))
		fail_msg("diff(a,a) not empty: %s", diff_string(same));
	json_object_put(same);

	d = roster_diff(a, b);
	d2 = roster_diff(a, b);
	sd = strdup(diff_string(d));
	assert_string_equal(sd, diff_string(d2));	/* deterministic */
	json_object_put(d2);

	b->version = a->version + 1;
	base = copy(a);
	if (apply_text(base, d, err, sizeof(err)) != 0)
		fail_msg("apply: %s\n  diff %s", err, sd);
	assert_same(base, b, "apply(a, diff(a, b)) and b");
	roster_free(base);

	/* Empty exactly when the rosters are the same. */
	b->version = a->version;
	sa = roster_snapshot(a, NULL);
	sb = roster_snapshot(b, NULL);
	assert_int_equal(roster_diff_is_empty(d), strcmp(sa, sb) == 0);
	free(sa);
	free(sb);

	roster_diff_count(d, &n);
	assert_int_equal(n.added + n.updated + n.removed > 0,
	    !roster_diff_is_empty(d));

	/* Applying to the wrong base is refused (strictness). */
	if (!roster_diff_is_empty(d) && !is_empty_roster(b)) {
		base = copy(b);
		if (apply_text(base, d, err, sizeof(err)) == 0)
			fail_msg("diff applied twice: %s", sd);
		roster_free(base);
	}

	check_mutated(a, d);

	/* From nothing. */
	json_object_put(d);
	d = roster_diff(NULL, b);
	base = roster_new(ROSTER_FIELDS_LIBRARY);
	fresh = copy(b);
	fresh->version = 1;
	if (apply_text(base, d, err, sizeof(err)) != 0)
		fail_msg("apply from nothing: %s", err);
	assert_same(base, fresh, "apply(empty, diff(NULL, b)) and b");
	roster_free(base);
	roster_free(fresh);
	json_object_put(d);
	free(sd);
}

static void
test_property_pairs(void **state)
{
	struct world	 wa, wb;
	struct roster	*a, *b;
	uint64_t	 seed = env_u64("ROSTER_PROPERTY_SEED", 20240601);
	uint64_t	 iters = env_u64("ROSTER_PROPERTY_ITERATIONS", 3000);
	uint64_t	 i;

	rng_state = seed;
	for (i = 0; i < iters; i++) {
		world_random(&wa);
		wb = wa;
		if (rnd(10) == 0)
			world_random(&wb);	/* unrelated rosters */
		else
			world_mutate(&wb);
		a = build(&wa);
		b = build(&wb);
		a->version = rnd(100);
		check_pair(a, b);
		roster_free(a);
		roster_free(b);
	}
	print_message("%llu pairs (seed %llu); mutated diffs: %u applied, "
	    "%u rejected\n", (unsigned long long)iters,
	    (unsigned long long)seed, mutations_applied, mutations_rejected);
}

/* Diffs applied in order from nothing give the latest snapshot. */
static void
test_property_chains(void **state)
{
	struct world	 w;
	struct roster	*acc, *prev, *cur;
	json_object	*d;
	char		 err[256];
	unsigned	 chain, step, applied = 0;

	rng_state = env_u64("ROSTER_PROPERTY_SEED", 20240601) ^ 0x5eed;
	for (chain = 0; chain < 200; chain++) {
		acc = roster_new(ROSTER_FIELDS_LIBRARY);
		prev = NULL;
		world_random(&w);
		for (step = 0; step < 12; step++) {
			cur = build(&w);
			d = roster_diff(prev, cur);
			cur->version = prev != NULL ? prev->version : 0;
			if (!roster_diff_is_empty(d)) {
				cur->version++;
				if (apply_text(acc, d, err, sizeof(err)) != 0)
					fail_msg("chain apply: %s", err);
				applied++;
			}
			assert_same(acc, cur, "replayed and current");
			json_object_put(d);
			roster_free(prev);
			prev = cur;
			world_mutate(&w);
		}
		roster_free(prev);
		roster_free(acc);
	}
	print_message("200 chains of 12 syncs, %u diffs replayed\n", applied);
}

static struct roster *
snap(const char *s)
{
	struct roster	*r;
	char		 err[256];

	r = roster_from_snapshot(s, strlen(s), err, sizeof(err));
	if (r == NULL)
		fail_msg("%s: %s", err, s);
	return r;
}

#define HEAD(auth)	"{\"format\":1,\"version\":7,\"fields\":\"library\"," \
	"\"authorized_by\":" auth ",\"district\":null,"
#define TEACHER(first)	"\"teacher\":{\"id\":\"t\",\"first\":\"" first "\"," \
	"\"last\":\"L\",\"grade\":\"\"},"
#define SEC(id, name, studs)	"{\"id\":\"" id "\",\"name\":\"" name "\"," \
	"\"section_number\":\"\",\"subject\":\"math\",\"grade\":\"\"," \
	"\"teachers\":[\"t\"],\"students\":[" studs "]}"
#define STU(id, grade)	"{\"id\":\"" id "\",\"first\":\"F\",\"last\":\"L\"," \
	"\"grade\":\"" grade "\"}"

static const char snap_a[] = HEAD("\"teacher\"") TEACHER("Ann")
    "\"sections\":[" SEC("a", "A", "\"u1\",\"u2\"") "," SEC("b", "B", "\"u2\"")
    "],\"students\":[" STU("u1", "") "," STU("u2", "") "]}";
static const char snap_b[] = HEAD("\"district\"") TEACHER("Anne")
    "\"sections\":[" SEC("a", "A2", "\"u2\",\"u3\"") "," SEC("c", "C", "\"u3\"")
    "],\"students\":[" STU("u2", "5") "," STU("u3", "") "]}";

/* The documented format (doc/roster-format.md), exactly. */
static void
test_diff_format(void **state)
{
	struct roster			*a = snap(snap_a), *b = snap(snap_b);
	struct roster_diff_counts	 n;
	json_object			*d;

	d = roster_diff(a, b);
	assert_string_equal(diff_string(d), "{\"format\":1,"
	    "\"roster\":{\"authorized_by\":{\"old\":\"teacher\",\"new\":"
	    "\"district\"}},"
	    "\"teacher\":{\"added\":null,\"updated\":{\"first\":{\"old\":"
	    "\"Ann\",\"new\":\"Anne\"}},\"removed\":null},"
	    "\"sections\":{\"added\":[{\"id\":\"c\",\"name\":\"C\","
	    "\"section_number\":\"\",\"subject\":\"math\",\"grade\":\"\","
	    "\"teachers\":[\"t\"]}],\"updated\":[{\"id\":\"a\",\"changes\":{"
	    "\"name\":{\"old\":\"A\",\"new\":\"A2\"}}}],\"removed\":[{\"id\":"
	    "\"b\",\"name\":\"B\",\"section_number\":\"\",\"subject\":\"math\","
	    "\"grade\":\"\",\"teachers\":[\"t\"]}]},"
	    "\"students\":{\"added\":[{\"id\":\"u3\",\"first\":\"F\",\"last\":"
	    "\"L\",\"grade\":\"\"}],\"updated\":[{\"id\":\"u2\",\"changes\":{"
	    "\"grade\":{\"old\":\"\",\"new\":\"5\"}}}],\"removed\":[{\"id\":"
	    "\"u1\",\"first\":\"F\",\"last\":\"L\",\"grade\":\"\"}]},"
	    "\"enrollments\":{\"added\":[{\"section\":\"a\",\"student\":\"u3\"},"
	    "{\"section\":\"c\",\"student\":\"u3\"}],\"removed\":[{\"section\":"
	    "\"a\",\"student\":\"u1\"},{\"section\":\"b\",\"student\":\"u2\"}]}}");
	roster_diff_count(d, &n);
	assert_int_equal(n.sections_added, 1);
	assert_int_equal(n.sections_updated, 1);
	assert_int_equal(n.sections_removed, 1);
	assert_int_equal(n.students_added, 1);
	assert_int_equal(n.students_updated, 1);
	assert_int_equal(n.students_removed, 1);
	assert_int_equal(n.enrollments_added, 2);
	assert_int_equal(n.enrollments_removed, 2);
	assert_int_equal(n.teacher_updated, 1);
	assert_int_equal(n.added, 4);
	assert_int_equal(n.removed, 4);
	assert_int_equal(n.updated, 4);	/* section, student, teacher, auth */
	json_object_put(d);

	d = roster_diff(a, a);
	assert_string_equal(diff_string(d), "{\"format\":1,\"roster\":{},"
	    "\"teacher\":{\"added\":null,\"updated\":{},\"removed\":null},"
	    "\"sections\":{\"added\":[],\"updated\":[],\"removed\":[]},"
	    "\"students\":{\"added\":[],\"updated\":[],\"removed\":[]},"
	    "\"enrollments\":{\"added\":[],\"removed\":[]}}");
	assert_true(roster_diff_is_empty(d));
	json_object_put(d);
	roster_free(a);
	roster_free(b);
}

struct bad_diff {
	const char	*diff;
	const char	*error;
};

#define EMPTY_REST	"\"sections\":{\"added\":[],\"updated\":[],\"removed\":[]}," \
	"\"students\":{\"added\":[],\"updated\":[],\"removed\":[]}," \
	"\"enrollments\":{\"added\":[],\"removed\":[]}}"
#define D(roster, teacher, sections, students, enr)	"{\"format\":1," \
	"\"roster\":" roster ",\"teacher\":" teacher ",\"sections\":" sections \
	",\"students\":" students ",\"enrollments\":" enr "}"
#define NO_T	"{\"added\":null,\"updated\":{},\"removed\":null}"
#define NO_G	"{\"added\":[],\"updated\":[],\"removed\":[]}"
#define NO_E	"{\"added\":[],\"removed\":[]}"

static void
test_apply_strict(void **state)
{
	static const struct bad_diff bad[] = {
		{ "[]", "expected an object" },
		{ "{\"format\":2}", "unsupported format 2" },
		{ "{\"format\":1}", "missing \"roster\"" },
		{ "{\"format\":1,\"roster\":{},\"teacher\":" NO_T ","
		    "\"enrollments\":" NO_E "}", "missing \"sections\"" },
		{ D("{\"authorized_by\":{\"old\":null,\"new\":\"x\"}}", NO_T,
		    NO_G, NO_G, NO_E), "roster authorized_by: old value" },
		{ D("{\"fields\":{\"old\":\"district\",\"new\":\"library\"}}",
		    NO_T, NO_G, NO_G, NO_E), "fields: old value" },
		{ D("{\"colour\":{\"old\":1,\"new\":2}}", NO_T, NO_G, NO_G,
		    NO_E), "unknown field \"colour\"" },
		{ D("{\"district\":5}", NO_T, NO_G, NO_G, NO_E),
		    "change of \"district\"" },
		{ D("{}", "{\"added\":" STU("t", "") ",\"updated\":{},"
		    "\"removed\":null}", NO_G, NO_G, NO_E),
		    "added teacher t is already present" },
		{ D("{}", "{\"added\":null,\"updated\":{\"first\":{\"old\":"
		    "\"Bob\",\"new\":\"X\"}},\"removed\":null}", NO_G, NO_G,
		    NO_E), "old first does not match" },
		{ D("{}", "{\"added\":null,\"updated\":{\"id\":{\"old\":"
		    "\"t\",\"new\":\"X\"}},\"removed\":null}", NO_G, NO_G,
		    NO_E), "unknown field \"id\"" },
		{ D("{}", "{\"added\":null,\"updated\":{},\"removed\":"
		    "{\"id\":\"t\",\"first\":\"Bob\",\"last\":\"L\","
		    "\"grade\":\"\"}}", NO_G, NO_G, NO_E),
		    "removed student t does not match" },
		{ D("{}", NO_T, "{\"added\":[" SEC("a", "A", "") "],"
		    "\"updated\":[],\"removed\":[]}", NO_G, NO_E),
		    "added section a is already present" },
		{ D("{}", NO_T, "{\"added\":[" SEC("d", "D", "") ","
		    SEC("c", "C", "") "],\"updated\":[],\"removed\":[]}", NO_G,
		    NO_E), "not sorted by id" },
		{ D("{}", NO_T, "{\"added\":[],\"updated\":[],\"removed\":["
		    SEC("a", "A", "") "]}", NO_G, NO_E),
		    "removed section a still has enrollments" },
		{ D("{}", NO_T, "{\"added\":[],\"updated\":[],\"removed\":["
		    SEC("z", "Z", "") "]}", NO_G, NO_E),
		    "removed section z is absent" },
		{ D("{}", NO_T, "{\"added\":[],\"updated\":[{\"id\":\"z\","
		    "\"changes\":{}}],\"removed\":[]}", NO_G, NO_E),
		    "updated section z is absent" },
		{ D("{}", NO_T, "{\"added\":[],\"updated\":[{\"id\":\"a\","
		    "\"changes\":{\"subject\":{\"old\":\"math\",\"new\":"
		    "\"Math\"}}}],\"removed\":[]}", NO_G, NO_E),
		    "invalid value \"Math\"" },
		{ D("{}", NO_T, "{\"added\":[],\"updated\":[{\"id\":\"a\","
		    "\"changes\":{\"teachers\":{\"old\":[\"x\"],\"new\":[]}}}],"
		    "\"removed\":[]}", NO_G, NO_E), "old teachers does not" },
		{ D("{}", NO_T, NO_G, "{\"added\":[],\"updated\":[{\"id\":"
		    "\"u1\",\"changes\":{\"grade\":{\"old\":\"9\",\"new\":"
		    "\"5\"}}}],\"removed\":[]}", NO_E),
		    "old grade does not match" },
		{ D("{}", NO_T, NO_G, "{\"added\":[],\"updated\":[],"
		    "\"removed\":[" STU("u9", "") "]}", NO_E),
		    "removed student u9 is absent" },
		{ D("{}", NO_T, NO_G, "{\"added\":[],\"updated\":[],"
		    "\"removed\":[" STU("u1", "") "]}", NO_E),
		    "enrolled student u1 has no record" },
		{ D("{}", NO_T, NO_G, "{\"added\":[" STU("u3", "") "],"
		    "\"updated\":[],\"removed\":[]}", NO_E),
		    "student u3 is not enrolled" },
		{ D("{}", NO_T, NO_G, NO_G, "{\"added\":[{\"section\":\"zz\","
		    "\"student\":\"u1\"}],\"removed\":[]}"), "no such section" },
		{ D("{}", NO_T, NO_G, NO_G, "{\"added\":[{\"section\":\"a\","
		    "\"student\":\"u1\"}],\"removed\":[]}"),
		    "added enrollment a/u1 is already present" },
		{ D("{}", NO_T, NO_G, NO_G, "{\"added\":[],\"removed\":["
		    "{\"section\":\"a\",\"student\":\"u9\"}]}"),
		    "removed enrollment a/u9 is absent" },
		{ D("{}", NO_T, NO_G, NO_G, "{\"added\":[{\"section\":\"b\","
		    "\"student\":\"u9\"}],\"removed\":[]}"),
		    "enrolled student u9 has no record" },
		{ D("{}", NO_T, NO_G, NO_G, "{\"added\":[{\"section\":\"b\","
		    "\"student\":\"u1\"},{\"section\":\"a\",\"student\":\"u9\"}"
		    "],\"removed\":[]}"), "not sorted" },
		{ D("{}", NO_T, NO_G, NO_G, "{\"added\":[{\"section\":\"b\"}],"
		    "\"removed\":[]}"), "expected {\"section\"" },
		{ D("{}", NO_T, NO_G, NO_G, "{\"added\":{},\"removed\":[]}"),
		    "\"added\": expected array" },
		{ NULL, NULL }
	};
	const struct bad_diff	*b;
	struct roster		*r;
	json_object		*d;
	char			 err[256];

	for (b = bad; b->diff != NULL; b++) {
		r = snap(snap_a);
		d = json_tokener_parse(b->diff);
		if (d == NULL)
			fail_msg("bad test JSON: %s", b->diff);
		err[0] = '\0';
		if (roster_apply(r, d, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", b->diff);
		if (strstr(err, b->error) == NULL)
			fail_msg("%s\n  gave \"%s\", want \"%s\"", b->diff, err,
			    b->error);
		json_object_put(d);
		roster_free(r);
	}
}

/* The version advances by one per applied diff. */
static void
test_apply_version(void **state)
{
	struct roster	*a = snap(snap_a), *b = snap(snap_b);
	json_object	*d = roster_diff(a, b);
	char		 err[256];

	assert_int_equal(roster_apply(a, d, err, sizeof(err)), 0);
	assert_int_equal(a->version, 8);
	json_object_put(d);
	roster_free(a);
	roster_free(b);
}

/* One section "s" with students u<from>..u<to-1>, or no section. */
static struct roster *
shrink_roster(unsigned from, unsigned to, int with_section)
{
	struct roster	*r = roster_new(ROSTER_FIELDS_LIBRARY);
	json_object	*o, *sec, *studs, *items, *u;
	char		 id[16], err[256];
	unsigned	 i;

	o = json_tokener_parse("{\"data\":{\"id\":\"t\"}}");
	must(roster_set_teacher(r, o, err, sizeof(err)), "teacher", err);
	json_object_put(o);
	sec = json_tokener_parse("{\"id\":\"s\",\"name\":\"Math 7\"}");
	studs = json_object_new_array();
	items = json_object_new_array();
	for (i = from; i < to; i++) {
		snprintf(id, sizeof(id), "u%02u", i);
		json_object_array_add(studs, json_object_new_string(id));
		u = json_object_new_object();
		add_str(u, "id", id);
		json_object_array_add(items, envelope(u));
	}
	json_object_object_add(sec, "students", studs);
	o = json_object_new_array();
	if (with_section)
		json_object_array_add(o, envelope(sec));
	else
		json_object_put(sec);
	o = page(o);
	must(roster_add_sections(r, o, err, sizeof(err)), "sections", err);
	json_object_put(o);
	o = page(items);
	must(roster_add_students(r, o, err, sizeof(err)), "students", err);
	json_object_put(o);
	must(roster_finish(r, 0, err, sizeof(err)), "finish", err);
	return r;
}

static void
test_shrink_guard(void **state)
{
	struct roster_shrink_conf	 conf = { 1, 5, 50, 1 };
	struct roster			*full, *lost20, *lost10, *small, *gone;
	struct roster			*none, *tiny;
	char				 why[256];

	full = shrink_roster(0, 30, 1);
	lost20 = shrink_roster(20, 30, 1);
	lost10 = shrink_roster(10, 30, 1);
	small = shrink_roster(0, 4, 1);
	tiny = shrink_roster(0, 0, 1);
	none = shrink_roster(0, 0, 0);
	gone = shrink_roster(0, 30, 0);

	why[0] = '\0';
	assert_int_equal(roster_shrink_check(full, lost20, &conf, why,
	    sizeof(why)), 1);
	assert_string_equal(why, "section s (Math 7) would lose 20 of its 30 "
	    "students (66% > 50%)");
	assert_int_equal(roster_shrink_check(full, lost10, &conf, why,
	    sizeof(why)), 0);
	assert_int_equal(roster_shrink_check(lost10, full, &conf, why,
	    sizeof(why)), 0);			/* growth is fine */
	assert_int_equal(roster_shrink_check(small, tiny, &conf, why,
	    sizeof(why)), 0);			/* under min_students */
	conf.section_min_students = 0;
	assert_int_equal(roster_shrink_check(small, tiny, &conf, why,
	    sizeof(why)), 1);
	conf.section_min_students = 5;
	assert_int_equal(roster_shrink_check(full, none, &conf, why,
	    sizeof(why)), 1);
	assert_string_equal(why, "teacher t would lose all 1 section(s)");
	assert_int_equal(roster_shrink_check(full, gone, &conf, why,
	    sizeof(why)), 1);
	conf.teacher_all_sections = 0;
	assert_int_equal(roster_shrink_check(full, none, &conf, why,
	    sizeof(why)), 0);
	assert_int_equal(roster_shrink_check(none, none, &conf, why,
	    sizeof(why)), 0);
	conf.teacher_all_sections = 1;
	assert_int_equal(roster_shrink_check(NULL, none, &conf, why,
	    sizeof(why)), 0);
	conf.section_max_loss_pct = 70;
	assert_int_equal(roster_shrink_check(full, lost20, &conf, why,
	    sizeof(why)), 0);
	conf.section_max_loss_pct = 50;
	conf.enabled = 0;
	assert_int_equal(roster_shrink_check(full, lost20, &conf, why,
	    sizeof(why)), 0);
	assert_int_equal(roster_shrink_check(full, none, &conf, why,
	    sizeof(why)), 0);

	roster_free(full);
	roster_free(lost20);
	roster_free(lost10);
	roster_free(small);
	roster_free(tiny);
	roster_free(none);
	roster_free(gone);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_format),
		cmocka_unit_test(test_apply_strict),
		cmocka_unit_test(test_apply_version),
		cmocka_unit_test(test_shrink_guard),
		cmocka_unit_test(test_property_pairs),
		cmocka_unit_test(test_property_chains),
	};

	/* Unrecognised grades in the random rosters are expected. */
	log_init("test_diff", LOG_LVL_ERR, LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
