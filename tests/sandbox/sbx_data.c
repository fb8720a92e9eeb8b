/*
 * The sandbox's data set: districts, teachers, students and sections,
 * either generated from a seed or loaded from a JSON file, plus the
 * primitive edits the control API's mutations are made of.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "xmalloc.h"
#include "sandbox.h"

/* 2023-04-12T23:05:00Z, the day the recordings' sandbox was re-seeded. */
#define BASE_EPOCH	1681340700LL

struct name {
	const char	*utf8;
	const char	*ascii;		/* for usernames and emails */
};

static const struct name first_names[] = {
	{ "James", "james" }, { "Maria", "maria" }, { "José", "jose" },
	{ "Zoë", "zoe" }, { "Siobhán", "siobhan" }, { "Renée", "renee" },
	{ "François", "francois" }, { "Łukasz", "lukasz" },
	{ "Øyvind", "oyvind" }, { "Ngozi", "ngozi" }, { "Aaliyah", "aaliyah" },
	{ "Mateo", "mateo" }, { "Olivia", "olivia" }, { "Liam", "liam" },
	{ "Emma", "emma" }, { "Noah", "noah" }, { "Sofía", "sofia" },
	{ "Chloé", "chloe" }, { "Hiroshi", "hiroshi" }, { "美咲", "misaki" },
	{ "伟", "wei" }, { "Jae-won", "jaewon" }, { "D'Andre", "dandre" },
	{ "Mary-Kate", "marykate" }, { "Ahmed", "ahmed" }, { "Priya", "priya" },
	{ "Ethan", "ethan" }, { "Ava", "ava" }, { "Lucas", "lucas" },
	{ "Mia", "mia" }, { "Björn", "bjorn" }, { "Ana", "ana" },
	{ "Samantha", "samantha" }, { "Theron", "theron" },
};

static const struct name last_names[] = {
	{ "Smith", "smith" }, { "García", "garcia" },
	{ "O'Connell", "oconnell" }, { "D'Angelo", "dangelo" },
	{ "Nguyễn", "nguyen" }, { "Müller", "muller" }, { "Núñez", "nunez" },
	{ "王", "wang" }, { "李", "li" }, { "佐藤", "sato" }, { "김", "kim" },
	{ "Johnson", "johnson" }, { "Williams", "williams" },
	{ "Brown", "brown" }, { "Okafor", "okafor" },
	{ "Kowalski", "kowalski" }, { "Ødegaard", "odegaard" },
	{ "St. James", "stjames" }, { "van der Berg", "vanderberg" },
	{ "Martínez-López", "martinezlopez" }, { "Patel", "patel" },
	{ "Cohen", "cohen" }, { "Dubois", "dubois" },
	{ "Schröder", "schroder" }, { "Rossi", "rossi" },
	{ "Ivanova", "ivanova" }, { "Haddad", "haddad" }, { "Lee", "lee" },
	{ "Walker", "walker" }, { "Madison", "madison" },
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

struct course {
	const char	*subject;
	const char	*name;
};

static const struct course courses[] = {
	{ "english/language arts", "English 9" },
	{ "english/language arts", "American Literature" },
	{ "math", "Algebra I" }, { "math", "Geometry" },
	{ "math", "Pre-Calculus" }, { "science", "Biology" },
	{ "science", "Chemistry" }, { "science", "Earth Science" },
	{ "social studies", "World History" },
	{ "social studies", "U.S. Government" },
	{ "language", "Spanish II" }, { "language", "Français I" },
	{ "technology and engineering", "Robotics" },
	{ "PE and health", "Physical Education" },
	{ "arts and music", "Orchestra" }, { "arts and music", "Art Studio" },
	{ "interventions/online learning", "Reading Intervention" },
	{ "other", "Study Hall" },
};

/* Legacy values some SIS exports still carry. */
static const char *const odd_subjects[] = {
	"Math", "ELA", "Science 7", "Social Studies", "Homeroom", "",
};
static const char *const odd_grades[] = {
	"K", "PK", "01", "Grade 3", "9th", "",
};
static const char *const elem_grades[] = {
	"PreKindergarten", "TransitionalKindergarten", "Kindergarten",
	"1", "2", "3", "4", "5",
};
static const char *const races[] = {
	"Caucasian", "Asian", "Black or African American",
	"Two or More Races", "Hawaiian or Other Pacific Islander",
};

enum teacher_kind {
	TK_SECONDARY,
	TK_ELEMENTARY,
	TK_BIG,
	TK_NONE,
};

struct genctx {
	struct world	*w;
	struct rng	*r;
	struct ptrv	*pools;		/* students per district school */
	struct ptrv	*teachers;	/* per district */
};

static char *
fmt_ts(struct world *w, int64_t ms)
{
	char		 buf[40];
	struct tm	 tm;
	time_t		 t = (time_t)(BASE_EPOCH + ms / 1000);

	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + 19, sizeof buf - 19, ".%03dZ", (int)(ms % 1000));
	return arena_strdup(w->arena, buf);
}

static char *
adup(struct world *w, const char *s)
{
	return arena_strdup(w->arena, s);
}

static char *
afmt(struct world *w, const char *fmt, unsigned long long v)
{
	char	buf[64];

	snprintf(buf, sizeof buf, fmt, v);
	return adup(w, buf);
}

/* ObjectID-like: time, machine, type, counter; ids sort by creation. */
const char *
world_newid(struct world *w, enum obj_type type, char *out)
{
	static const uint32_t toff[] = { 0, 0, 0x06d03c54, 0x00000220,
	    0x00000227 };

	do {
		snprintf(out, SBX_IDLEN + 1, "%08x%06x%04x%06x",
		    (unsigned)(w->idtime + toff[type]),
		    (unsigned)(w->idmachine & 0xffffff),
		    (unsigned)(0xa064 + type),
		    (unsigned)(w->idctr++ & 0xffffff));
	} while (map_get(&w->ids, out) != NULL);
	return out;
}

static void *
new_obj(struct world *w, enum obj_type type, size_t size, const char *id)
{
	struct obj	*o = arena_alloc(w->arena, size);

	o->type = type;
	if (id != NULL && strlen(id) == SBX_IDLEN && world_get(w, id) == NULL)
		memcpy(o->id, id, SBX_IDLEN + 1);
	else
		world_newid(w, type, o->id);
	map_put(&w->ids, o->id, o);
	return o;
}

static char *
hex_token(struct world *w, struct rng *r, const char *prefix, int nhex)
{
	char	buf[64];
	int	i, n;

	n = snprintf(buf, sizeof buf, "%s", prefix);
	for (i = 0; i < nhex; i++)
		buf[n++] = "0123456789abcdef"[rng_below(r, 16)];
	buf[n] = '\0';
	return adup(w, buf);
}

static struct district *
gen_district(struct world *w, struct rng *r, int idx)
{
	static const char *const names[] = {
		"#DEMO Riverside Unified", "Lakeview ISD", "Distrito Escolar Montaña",
		"Saint-Laurent School Board",
	};
	struct district	*d = new_obj(w, OBJ_DISTRICT, sizeof *d, NULL);
	int		 i;

	d->name = adup(w, names[idx % NITEMS(names)]);
	d->token = hex_token(w, r, "", 40);
	for (i = 0; i < 4; i++) {
		char sid[SBX_IDLEN + 1];

		d->schools[i] = adup(w, world_newid(w, OBJ_DISTRICT, sid));
		d->elementary[i] = i < 2;
	}
	ptrv_push(&w->districts, d);
	map_put(&w->tokens, d->token, d);
	return d;
}

static void
gen_person(struct genctx *g, struct user *u, const char *domain)
{
	struct world		*w = g->w;
	const struct name	*f, *l;
	char			 buf[128];

	f = &first_names[rng_below(g->r, NITEMS(first_names))];
	l = &last_names[rng_below(g->r, NITEMS(last_names))];
	u->first = adup(w, f->utf8);
	u->last = adup(w, l->utf8);
	if (rng_chance(g->r, 0.6)) {
		const struct name *m;

		m = &first_names[rng_below(g->r, NITEMS(first_names))];
		/* Mostly an initial, sometimes a full middle name. */
		if (rng_chance(g->r, 0.7) && m->ascii[0] != '\0') {
			snprintf(buf, sizeof buf, "%c", m->ascii[0] - 32);
			u->middle = adup(w, buf);
		} else
			u->middle = adup(w, m->utf8);
	}
	snprintf(buf, sizeof buf, "%s%s%llu", l->ascii, f->ascii,
	    (unsigned long long)(w->idctr % 100));
	u->username = adup(w, buf);
	snprintf(buf, sizeof buf, "%s.%s%llu@%s", f->ascii, l->ascii,
	    (unsigned long long)(w->idctr % 1000), domain);
	u->email = adup(w, buf);
	u->created = fmt_ts(w, (int64_t)w->idctr * 7);
	u->last_modified = fmt_ts(w, 86400000LL * 11 + (int64_t)w->idctr * 3);
	u->sis_id = afmt(w, "%llu", 100000000ULL + rng_below(g->r, 899999999));
	u->state_id = afmt(w, "%llu", 100000000ULL + rng_below(g->r, 899999999));
}

static struct user *
gen_teacher(struct genctx *g, struct district *d, enum teacher_kind tk)
{
	struct world	*w = g->w;
	struct user	*u = new_obj(w, OBJ_TEACHER, sizeof *u, NULL);
	int		 s;

	u->district = d;
	gen_person(g, u, "example.org");
	s = tk == TK_ELEMENTARY ? rng_range(g->r, 0, 1) : rng_range(g->r, 2, 3);
	u->school = d->schools[s];
	u->number = afmt(w, "%llu", 500000ULL + rng_below(g->r, 99999));
	u->legacy_id = adup(w, world_newid(w, OBJ_DISTRICT, (char[25]){ 0 }));
	if (rng_chance(g->r, 0.85))
		u->title = adup(w, tk == TK_ELEMENTARY ?
		    "Elementary Teacher" : "High School Teacher");
	u->token = hex_token(w, g->r, "ilc_", 32);
	ptrv_push(&w->users, u);
	map_put(&w->tokens, u->token, u);
	d->nteachers++;
	return u;
}

static struct user *
gen_student(struct genctx *g, struct district *d, const char *school,
    const char *grade)
{
	struct world	*w = g->w;
	struct user	*u = new_obj(w, OBJ_STUDENT, sizeof *u, NULL);

	u->district = d;
	gen_person(g, u, "students.example.net");
	if (rng_chance(g->r, 0.12))
		u->email = NULL;		/* not every SIS has one */
	u->school = (char *)school;
	u->number = u->sis_id;
	if (rng_chance(g->r, 0.05))
		u->grade = adup(w, odd_grades[rng_below(g->r,
		    NITEMS(odd_grades))]);
	else if (!rng_chance(g->r, 0.03))
		u->grade = (char *)grade;
	if (rng_chance(g->r, 0.9))
		u->dob = afmt(w, "%llu/15/2010", 1 + rng_below(g->r, 12));
	u->gender = adup(w, (const char *[]){ "M", "F", "X", "" }
	    [rng_below(g->r, 4)]);
	u->race = (char *)races[rng_below(g->r, NITEMS(races))];
	u->hispanic = (char *)(rng_chance(g->r, 0.3) ? "Y" : "N");
	u->gifted = (char *)(rng_chance(g->r, 0.1) ? "Y" : "");
	u->zip = afmt(w, "%05llu", 10000 + rng_below(g->r, 1000));
	ptrv_push(&w->users, u);
	return u;
}

/* Pick a student for a section: the teacher's own, the school's, or new. */
static struct user *
pick_student(struct genctx *g, struct section *sec, struct ptrv *mine,
    struct ptrv *pool)
{
	struct user	*u = NULL;
	int		 tries;

	for (tries = 0; tries < 4 && u == NULL; tries++) {
		double	x = rng_unit(g->r);

		if (x < 0.3 && mine->n > 0)
			u = mine->v[rng_below(g->r, (uint32_t)mine->n)];
		else if (x < 0.55 && pool->n > 0)
			u = pool->v[rng_below(g->r, (uint32_t)pool->n)];
		else
			break;
		if (ptrv_has(&sec->students, u))
			u = NULL;
	}
	if (u == NULL) {
		u = gen_student(g, sec->district, sec->school, sec->grade);
		ptrv_push(pool, u);
	}
	if (!ptrv_has(mine, u))
		ptrv_push(mine, u);
	return u;
}

static struct section *
gen_section(struct genctx *g, struct user *t, const struct course *c,
    const char *grade, int period, int nstudents, struct ptrv *mine)
{
	struct world	*w = g->w;
	struct district	*d = t->district;
	struct section	*s = new_obj(w, OBJ_SECTION, sizeof *s, NULL);
	struct ptrv	*pool;
	char		 buf[256];
	int		 i, si;

	s->district = d;
	s->school = t->school;
	snprintf(buf, sizeof buf, "%s - %s - %d", c->name, t->last, period);
	s->name = adup(w, buf);
	if (rng_chance(g->r, 0.08))
		s->subject = (char *)odd_subjects[rng_below(g->r,
		    NITEMS(odd_subjects))];
	else
		s->subject = (char *)c->subject;
	if (rng_chance(g->r, 0.08))
		s->grade = (char *)odd_grades[rng_below(g->r,
		    NITEMS(odd_grades))];
	else if (!rng_chance(g->r, 0.04))
		s->grade = (char *)grade;
	if (rng_chance(g->r, 0.9))
		s->period = afmt(w, "%llu", (unsigned long long)period);
	if (rng_chance(g->r, 0.5))
		s->section_number = afmt(w, "%llu", 100 + rng_below(g->r, 900));
	else
		s->section_number = (char *)"";
	s->sis_id = afmt(w, "%llu", 1 + w->idctr % 100000);
	if (rng_chance(g->r, 0.9))
		s->term_id = adup(w, "5b42365868c8d6104f634d34");
	if (rng_chance(g->r, 0.9))
		s->course = adup(w, world_newid(w, OBJ_SECTION,
		    (char[25]){ 0 }));
	s->classroom = afmt(w, "A%llu", 1 + rng_below(g->r, 40));
	s->created = fmt_ts(w, (int64_t)w->idctr * 5);
	s->last_modified = fmt_ts(w, 86400000LL * 10 + (int64_t)w->idctr);
	ptrv_push(&s->teachers, t);
	ptrv_push(&t->sections, s);

	for (si = 0; si < 3 && d->schools[si] != s->school; si++)
		;
	pool = nstudents > 0 ? &g->pools[si] : NULL;
	for (i = 0; i < nstudents; i++) {
		struct user *u = pick_student(g, s, mine, pool);

		ptrv_push(&s->students, u);
		ptrv_push(&u->sections, s);
	}
	ptrv_push(&w->sections, s);
	return s;
}

static void
gen_teacher_sections(struct genctx *g, struct user *t, enum teacher_kind tk)
{
	struct ptrv	 mine = { 0 };
	const char	*grade;
	int		 i, n, base;
	char		 gbuf[4];

	switch (tk) {
	case TK_NONE:
		break;
	case TK_ELEMENTARY:
		grade = elem_grades[rng_below(g->r, NITEMS(elem_grades))];
		gen_section(g, t, &(struct course){ "homeroom/advisory",
		    "Homeroom" }, grade, 1, rng_range(g->r, 18, 26), &mine);
		break;
	case TK_SECONDARY:
	case TK_BIG:
		n = tk == TK_BIG ? rng_range(g->r, 42, 48) : 6;
		base = (int)rng_below(g->r, NITEMS(courses));
		snprintf(gbuf, sizeof gbuf, "%d", rng_range(g->r, 6, 12));
		grade = arena_strdup(g->w->arena, gbuf);
		for (i = 0; i < n; i++) {
			/* Mostly one subject, now and then another course. */
			const struct course *c = &courses[(base +
			    (rng_chance(g->r, 0.2) ? i : 0)) % NITEMS(courses)];

			gen_section(g, t, c, grade, 1 + i % 8,
			    rng_range(g->r, 25, 32), &mine);
		}
		break;
	}
	ptrv_free(&mine);
}

static void
gen_coteachers(struct genctx *g, size_t ndistricts)
{
	struct world	*w = g->w;
	size_t		 i;

	for (i = 0; i < w->sections.n; i++) {
		struct section	*s = w->sections.v[i];
		struct ptrv	*tv;
		struct user	*co;
		size_t		 di;

		if (!rng_chance(g->r, 0.1))
			continue;
		for (di = 0; di < ndistricts; di++)
			if (w->districts.v[di] == s->district)
				break;
		tv = &g->teachers[di];
		if (tv->n == 0)
			continue;
		co = tv->v[rng_below(g->r, (uint32_t)tv->n)];
		if (ptrv_has(&s->teachers, co))
			continue;
		ptrv_push(&s->teachers, co);
		ptrv_push(&co->sections, s);
	}
}

static void
sort_all(struct world *w)
{
	size_t	i;

	for (i = 0; i < w->users.n; i++)
		ptrv_sort(&((struct user *)w->users.v[i])->sections);
	for (i = 0; i < w->sections.n; i++)
		ptrv_sort(&((struct section *)w->sections.v[i])->students);
}

static enum teacher_kind
teacher_kind(struct rng *r, int i)
{
	double	x;

	/* Fixed kinds first so tests and demos know what they get. */
	switch (i) {
	case 0:
		return TK_SECONDARY;
	case 1:
		return TK_ELEMENTARY;
	case 2:
		return TK_BIG;
	case 3:
		return TK_NONE;
	}
	x = rng_unit(r);
	if (x < 0.55)
		return TK_SECONDARY;
	if (x < 0.9)
		return TK_ELEMENTARY;
	return TK_NONE;
}

static void
generate(struct world *w, const struct gen_opts *go)
{
	struct genctx	 g = { .w = w, .r = &w->rng };
	int		 nd = go->districts > 0 ? go->districts : 1, i;
	enum teacher_kind *kinds;

	g.pools = xcalloc((size_t)nd * 4, sizeof *g.pools);
	g.teachers = xcalloc((size_t)nd, sizeof *g.teachers);
	for (i = 0; i < nd; i++)
		gen_district(w, &w->rng, i);
	kinds = xcalloc((size_t)go->teachers + 1, sizeof *kinds);
	for (i = 0; i < go->teachers; i++) {
		struct district	*d = w->districts.v[i % nd];
		struct user	*t;

		kinds[i] = teacher_kind(&w->rng, i);
		t = gen_teacher(&g, d, kinds[i]);
		ptrv_push(&g.teachers[i % nd], t);
	}
	for (i = 0; i < go->teachers; i++) {
		struct user	*t = g.teachers[i % nd].v[i / nd];
		struct ptrv	*pools = g.pools;

		g.pools = pools + (i % nd) * 4;
		gen_teacher_sections(&g, t, kinds[i]);
		g.pools = pools;
	}
	/* Co-teachers come from teachers who teach: "no sections" stays so. */
	for (i = 0; i < nd; i++) {
		struct ptrv	*tv = &g.teachers[i];
		size_t		 j, k;

		for (j = k = 0; j < tv->n; j++)
			if (((struct user *)tv->v[j])->sections.n > 0)
				tv->v[k++] = tv->v[j];
		tv->n = k;
	}
	gen_coteachers(&g, (size_t)nd);
	sort_all(w);
	for (i = 0; i < nd * 4; i++)
		ptrv_free(&g.pools[i]);
	for (i = 0; i < nd; i++)
		ptrv_free(&g.teachers[i]);
	free(g.pools);
	free(g.teachers);
	free(kinds);
}

/* ---- loading from a JSON file ---- */

static const char *
jget(json_object *o, const char *key)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    json_object_get_type(v) == json_type_null)
		return NULL;
	return json_object_get_string(v);
}

static char *
jdup(struct world *w, json_object *o, const char *key, const char *def)
{
	const char	*s = jget(o, key);

	return adup(w, s != NULL ? s : def);
}

static struct district *
load_district_of(struct world *w, json_object *o)
{
	const char	*id = jget(o, "district");
	struct obj	*d = id != NULL ? world_get(w, id) : NULL;

	if (d != NULL && d->type == OBJ_DISTRICT)
		return (struct district *)d;
	return w->districts.v[0];
}

static void
load_user(struct world *w, json_object *o, enum obj_type type)
{
	struct user	*u = new_obj(w, type, sizeof *u, jget(o, "id"));
	const char	*s;

	u->district = load_district_of(w, o);
	u->first = jdup(w, o, "first", "");
	u->middle = jdup(w, o, "middle", NULL);
	u->last = jdup(w, o, "last", "");
	u->email = jdup(w, o, "email", NULL);
	u->created = jdup(w, o, "created", "2023-04-12T23:05:00.000Z");
	u->last_modified = jdup(w, o, "last_modified",
	    "2023-04-23T16:07:31.000Z");
	u->school = jdup(w, o, "school", u->district->schools[0]);
	u->sis_id = jdup(w, o, "sis_id", "");
	u->state_id = jdup(w, o, "state_id", "");
	u->number = jdup(w, o, "number", u->sis_id);
	u->username = jdup(w, o, "username", "");
	u->legacy_id = jdup(w, o, "legacy_id", u->o.id);
	u->title = jdup(w, o, "title", NULL);
	u->grade = jdup(w, o, "grade", NULL);
	u->dob = jdup(w, o, "dob", NULL);
	u->gender = jdup(w, o, "gender", "");
	u->race = jdup(w, o, "race", "");
	u->hispanic = jdup(w, o, "hispanic_ethnicity", "");
	u->zip = jdup(w, o, "zip", "");
	u->gifted = jdup(w, o, "gifted_status", "");
	if (type == OBJ_TEACHER) {
		s = jget(o, "token");
		u->token = s != NULL ? adup(w, s) :
		    hex_token(w, &w->rng, "ilc_", 32);
		s = jget(o, "authorized_by");
		u->auth_district = s != NULL && strcmp(s, "district") == 0;
		map_put(&w->tokens, u->token, u);
		u->district->nteachers++;
	}
	ptrv_push(&w->users, u);
}

static void
load_members(struct world *w, struct section *s, json_object *o,
    const char *key, enum obj_type type)
{
	json_object	*a;
	size_t		 i;

	if (!json_object_object_get_ex(o, key, &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	for (i = 0; i < json_object_array_length(a); i++) {
		const char	*id = json_object_get_string(
		    json_object_array_get_idx(a, i));
		struct user	*u = id != NULL ? world_user(w, id) : NULL;

		if (u == NULL || u->o.type != type)
			continue;
		if (type == OBJ_TEACHER) {
			if (ptrv_has(&s->teachers, u))
				continue;
			ptrv_push(&s->teachers, u);
		} else {
			if (ptrv_has(&s->students, u))
				continue;
			ptrv_push(&s->students, u);
		}
		ptrv_push(&u->sections, s);
	}
}

static void
load_section(struct world *w, json_object *o)
{
	struct section	*s = new_obj(w, OBJ_SECTION, sizeof *s, jget(o, "id"));

	s->district = load_district_of(w, o);
	s->name = jdup(w, o, "name", "");
	s->section_number = jdup(w, o, "section_number", NULL);
	s->subject = jdup(w, o, "subject", "");
	s->grade = jdup(w, o, "grade", NULL);
	s->period = jdup(w, o, "period", NULL);
	s->school = jdup(w, o, "school", s->district->schools[0]);
	s->sis_id = jdup(w, o, "sis_id", "");
	s->term_id = jdup(w, o, "term_id", NULL);
	s->course = jdup(w, o, "course", NULL);
	s->classroom = jdup(w, o, "classroom", "");
	s->created = jdup(w, o, "created", "2023-04-12T23:05:00.000Z");
	s->last_modified = jdup(w, o, "last_modified",
	    "2023-04-23T16:07:31.000Z");
	load_members(w, s, o, "teachers", OBJ_TEACHER);
	load_members(w, s, o, "students", OBJ_STUDENT);
	ptrv_push(&w->sections, s);
}

static void
load_array(struct world *w, json_object *root, const char *key,
    void (*fn)(struct world *, json_object *, enum obj_type),
    enum obj_type type)
{
	json_object	*a;
	size_t		 i;

	if (!json_object_object_get_ex(root, key, &a) ||
	    !json_object_is_type(a, json_type_array))
		return;
	for (i = 0; i < json_object_array_length(a); i++)
		fn(w, json_object_array_get_idx(a, i), type);
}

static void
load_district(struct world *w, json_object *o, enum obj_type type)
{
	struct district	*d = new_obj(w, OBJ_DISTRICT, sizeof *d,
	    jget(o, "id"));
	const char	*tok = jget(o, "token");
	int		 i;

	(void)type;
	d->name = jdup(w, o, "name", "District");
	d->token = tok != NULL ? adup(w, tok) : hex_token(w, &w->rng, "", 40);
	for (i = 0; i < 4; i++) {
		char sid[SBX_IDLEN + 1];

		d->schools[i] = adup(w, world_newid(w, OBJ_DISTRICT, sid));
	}
	ptrv_push(&w->districts, d);
	map_put(&w->tokens, d->token, d);
}

static void
load_section_cb(struct world *w, json_object *o, enum obj_type type)
{
	(void)type;
	load_section(w, o);
}

static int
load(struct world *w, const char *path, char **errp)
{
	json_object	*root;

	if ((root = json_object_from_file(path)) == NULL ||
	    !json_object_is_type(root, json_type_object)) {
		xasprintf(errp, "%s: cannot read JSON: %s", path,
		    json_util_get_last_err());
		json_object_put(root);
		return -1;
	}
	load_array(w, root, "districts", load_district, OBJ_DISTRICT);
	if (w->districts.n == 0)
		load_district(w, json_object_new_object(), OBJ_DISTRICT);
	load_array(w, root, "teachers", load_user, OBJ_TEACHER);
	load_array(w, root, "students", load_user, OBJ_STUDENT);
	load_array(w, root, "sections", load_section_cb, OBJ_SECTION);
	sort_all(w);
	json_object_put(root);
	return 0;
}

struct world *
world_create(const struct gen_opts *go, char **errp)
{
	struct world	*w = xcalloc(1, sizeof *w);
	struct rng	 r;

	w->arena = arena_new();
	rng_seed(&w->rng, go->seed);
	rng_seed(&r, go->seed * 31 + 7);
	w->idtime = 0x58da8a43 + (uint32_t)rng_below(&r, 0x10000);
	w->idmachine = (uint32_t)rng_below(&r, 0xffffff);
	w->gen = 1;
	if (go->datafile != NULL) {
		if (load(w, go->datafile, errp) == -1) {
			world_free(w);
			return NULL;
		}
	} else
		generate(w, go);
	return w;
}

static void
obj_free_cache(struct obj *o)
{
	int	v;

	for (v = 0; v < VIEW_MAX; v++)
		free(o->cache[v]);
}

void
world_free(struct world *w)
{
	size_t	i;

	if (w == NULL)
		return;
	for (i = 0; i < w->users.n; i++) {
		struct user *u = w->users.v[i];

		ptrv_free(&u->sections);
		obj_free_cache(&u->o);
	}
	for (i = 0; i < w->sections.n; i++) {
		struct section *s = w->sections.v[i];

		ptrv_free(&s->teachers);
		ptrv_free(&s->students);
		obj_free_cache(&s->o);
	}
	for (i = 0; i < w->districts.n; i++) {
		struct district *d = w->districts.v[i];

		ptrv_free(&d->all_users);
		ptrv_free(&d->all_sections);
		ptrv_free(&d->events);
		obj_free_cache(&d->o);
	}
	ptrv_free(&w->users);
	ptrv_free(&w->sections);
	ptrv_free(&w->districts);
	map_free(&w->ids);
	map_free(&w->tokens);
	arena_free(w->arena);
	free(w);
}

struct obj *
world_get(struct world *w, const char *id)
{
	struct obj	*o = map_get(&w->ids, id);

	if (o != NULL && o->type == OBJ_SECTION &&
	    ((struct section *)o)->deleted)
		return NULL;
	if (o != NULL && (o->type == OBJ_STUDENT || o->type == OBJ_TEACHER) &&
	    ((struct user *)o)->deleted)
		return NULL;
	return o;
}

struct user *
world_user(struct world *w, const char *id)
{
	struct obj	*o = world_get(w, id);

	if (o == NULL || (o->type != OBJ_TEACHER && o->type != OBJ_STUDENT))
		return NULL;
	return (struct user *)o;
}

struct section *
world_section(struct world *w, const char *id)
{
	struct obj	*o = world_get(w, id);

	return o != NULL && o->type == OBJ_SECTION ? (struct section *)o : NULL;
}

struct obj *
world_token(struct world *w, const char *token)
{
	return map_get(&w->tokens, token);
}

/*
 * Mark an object modified: a deterministic clock (one second per mutation
 * after the generated data's last change) keeps runs reproducible.
 */
void
world_touch(struct world *w, char **last_modified)
{
	w->gen++;
	*last_modified = fmt_ts(w, 86400000LL * 12 + 1000LL * w->mutations);
}

struct user *
world_new_student(struct world *w, struct section *s, const char *first,
    const char *last)
{
	struct genctx	 g = { .w = w, .r = &w->rng };
	struct user	*u;

	u = gen_student(&g, s->district, s->school, s->grade);
	if (first != NULL)
		u->first = adup(w, first);
	if (last != NULL)
		u->last = adup(w, last);
	world_touch(w, &u->last_modified);
	return u;
}

struct section *
world_new_section(struct world *w, struct user *t)
{
	struct genctx	 g = { .w = w, .r = &w->rng };
	struct ptrv	 mine = { 0 };
	struct section	*s;

	s = gen_section(&g, t, &courses[rng_below(&w->rng, NITEMS(courses))],
	    "9", 1, 0, &mine);
	ptrv_free(&mine);
	/* gen_section appended; keep the teacher's list sorted. */
	ptrv_remove(&t->sections, s);
	ptrv_insert_sorted(&t->sections, s);
	world_touch(w, &s->last_modified);
	return s;
}

void
world_enroll(struct world *w, struct section *s, struct user *u)
{
	ptrv_insert_sorted(&s->students, u);
	ptrv_insert_sorted(&u->sections, s);
	world_touch(w, &s->last_modified);
}

int
world_unenroll(struct world *w, struct section *s, struct user *u)
{
	if (!ptrv_remove(&s->students, u))
		return -1;
	ptrv_remove(&u->sections, s);
	world_touch(w, &s->last_modified);
	return 0;
}

void
world_add_teacher(struct world *w, struct section *s, struct user *t)
{
	ptrv_push(&s->teachers, t);
	ptrv_insert_sorted(&t->sections, s);
	world_touch(w, &s->last_modified);
}

void
world_delete_section(struct world *w, struct section *s)
{
	size_t	i;

	for (i = 0; i < s->teachers.n; i++)
		ptrv_remove(&((struct user *)s->teachers.v[i])->sections, s);
	for (i = 0; i < s->students.n; i++)
		ptrv_remove(&((struct user *)s->students.v[i])->sections, s);
	s->deleted = 1;
	w->gen++;
}

/* A student gone from the SIS: the caller unenrolled it first. */
void
world_delete_user(struct world *w, struct user *u)
{
	u->deleted = 1;
	w->gen++;
}

int
section_has_teacher(const struct section *s, const struct user *t)
{
	return ptrv_has(&s->teachers, t);
}

/* The district's users and sections sorted by id, for /users, /sections. */
void
world_sort_district(struct world *w, struct district *d)
{
	size_t	i;

	if (d->sorted_valid && d->sorted_gen == w->gen)
		return;
	d->all_users.n = d->all_sections.n = 0;
	for (i = 0; i < w->users.n; i++) {
		struct user *u = w->users.v[i];

		if (u->district == d && !u->deleted)
			ptrv_push(&d->all_users, u);
	}
	for (i = 0; i < w->sections.n; i++) {
		struct section *s = w->sections.v[i];

		if (s->district == d && !s->deleted)
			ptrv_push(&d->all_sections, s);
	}
	ptrv_sort(&d->all_users);
	ptrv_sort(&d->all_sections);
	d->sorted_gen = w->gen;
	d->sorted_valid = 1;
}
