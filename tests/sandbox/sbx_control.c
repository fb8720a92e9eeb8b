/*
 * The control API (loopback, JSON in and out): lists of teachers and
 * districts with their tokens, data mutations, reset, stats and faults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "xmalloc.h"
#include "log.h"
#include "sandbox.h"

#define MAX_BODY	(1024 * 1024)

struct mut {
	struct sbx	*sbx;
	struct world	*w;
	json_object	*in;
	json_object	*out;
	char		 err[256];
};

static void
ctl_send(struct evhttp_request *req, int code, json_object *o)
{
	struct evbuffer	*ob = evhttp_request_get_output_buffer(req);
	const char	*s = json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add(ob, s, strlen(s));
	evbuffer_add(ob, "\n", 1);
	evhttp_send_reply(req, code, NULL, NULL);
	json_object_put(o);
}

static void
ctl_error(struct evhttp_request *req, int code, const char *msg)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "message", json_object_new_string(msg));
	ctl_send(req, code, o);
}

static json_object *
jstr(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static json_object *
id_array(const struct ptrv *pv)
{
	json_object	*a = json_object_new_array();
	size_t		 i;

	for (i = 0; i < pv->n; i++)
		json_object_array_add(a,
		    json_object_new_string(((struct obj *)pv->v[i])->id));
	return a;
}

static json_object *
teachers_json(struct world *w)
{
	json_object	*a = json_object_new_array();
	size_t		 i;

	for (i = 0; i < w->users.n; i++) {
		struct user	*u = w->users.v[i];
		json_object	*o, *n;

		if (u->o.type != OBJ_TEACHER)
			continue;
		o = json_object_new_object();
		n = json_object_new_object();
		json_object_object_add(o, "id", jstr(u->o.id));
		json_object_object_add(o, "token", jstr(u->token));
		json_object_object_add(o, "district", jstr(u->district->o.id));
		json_object_object_add(n, "first", jstr(u->first));
		json_object_object_add(n, "middle", jstr(u->middle));
		json_object_object_add(n, "last", jstr(u->last));
		json_object_object_add(o, "name", n);
		json_object_object_add(o, "email", jstr(u->email));
		json_object_object_add(o, "authorized_by",
		    jstr(u->auth_district ? "district" : "teacher"));
		json_object_object_add(o, "revoked",
		    json_object_new_boolean(u->revoked));
		json_object_object_add(o, "sections", id_array(&u->sections));
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *
districts_json(struct world *w)
{
	json_object	*a = json_object_new_array();
	size_t		 i;

	for (i = 0; i < w->districts.n; i++) {
		struct district	*d = w->districts.v[i];
		json_object	*o = json_object_new_object();

		json_object_object_add(o, "id", jstr(d->o.id));
		json_object_object_add(o, "token", jstr(d->token));
		json_object_object_add(o, "name", jstr(d->name));
		json_object_object_add(o, "teachers",
		    json_object_new_int((int)d->nteachers));
		json_object_array_add(a, o);
	}
	return a;
}

static void
add_count(json_object *o, const char *key, uint64_t n)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)n));
}

static json_object *
bucket_stats(const struct bucket *b)
{
	json_object	*o = json_object_new_object();

	add_count(o, "windows", b->windows);
	add_count(o, "full", b->full);
	return o;
}

static void
token_stats(json_object *to, const char *kind, const char *id,
    uint64_t requests, uint64_t limited, const struct bucket *b)
{
	json_object	*o;
	char		 key[64];

	if (requests == 0)
		return;
	/* Never the token itself: it is a credential. */
	snprintf(key, sizeof key, "%s:%s", kind, id);
	o = json_object_new_object();
	add_count(o, "requests", requests);
	add_count(o, "rate_limited", limited);
	json_object_object_add(o, "bearer", bucket_stats(b));
	json_object_object_add(to, key, o);
}

static json_object *
stats_json(struct sbx *sbx)
{
	struct world	*w = sbx->world;
	json_object	*o = json_object_new_object();
	json_object	*paths = json_object_new_object();
	json_object	*faults = json_object_new_object();
	json_object	*tokens = json_object_new_object();
	uint64_t	 pending = 0;
	struct reply	*rp;
	size_t		 i;

	add_count(o, "requests", sbx->stats.requests);
	add_count(o, "unauthorized", sbx->stats.unauthorized);
	add_count(o, "rate_limited", sbx->stats.limited);
	add_count(o, "429_sent", sbx->stats.limited +
	    sbx->stats.fault[FAULT_429]);
	add_count(o, "connections", sbx->stats.connections);
	add_count(o, "not_modified", sbx->stats.not_modified);
	add_count(o, "body_bytes", sbx->stats.body_bytes);
	TAILQ_FOREACH(rp, &sbx->pending, entry)
		pending++;
	add_count(o, "pending", pending);
	add_count(o, "hostile_active", hostile_active(sbx));
	for (i = 0; i < ROUTE_MAX; i++)
		add_count(paths, route_names[i], sbx->stats.route[i]);
	json_object_object_add(o, "paths", paths);
	for (i = 0; i < FAULT_MAX; i++)
		add_count(faults, fault_names[i], sbx->stats.fault[i]);
	json_object_object_add(o, "faults", faults);
	faults = json_object_new_object();
	for (i = 1; i < HOSTILE_MAX; i++)
		add_count(faults, hostile_names[i], sbx->stats.hostile[i]);
	json_object_object_add(o, "hostile", faults);
	for (i = 0; i < w->districts.n; i++) {
		struct district *d = w->districts.v[i];

		token_stats(tokens, "district", d->o.id, d->requests,
		    d->limited, &d->bucket);
	}
	for (i = 0; i < w->users.n; i++) {
		struct user *u = w->users.v[i];

		if (u->o.type == OBJ_TEACHER)
			token_stats(tokens, "teacher", u->o.id, u->requests,
			    u->limited, &u->bucket);
	}
	json_object_object_add(o, "tokens", tokens);
	if (sbx->two_buckets)
		json_object_object_add(o, "app", bucket_stats(&sbx->app_bucket));
	return o;
}

static json_object *
faults_json(struct sbx *sbx)
{
	json_object	*o = json_object_new_object();
	json_object	*r = json_object_new_object();
	int		 i;

	add_count(o, "seed", sbx->faults.seed);
	add_count(o, "latency_ms", sbx->faults.latency_ms);
	json_object_object_add(o, "etag",
	    json_object_new_string(etag_mode_names[sbx->etag]));
	for (i = 0; i < FAULT_MAX; i++)
		json_object_object_add(r, fault_names[i],
		    json_object_new_double(sbx->faults.rate[i]));
	json_object_object_add(o, "rates", r);
	return o;
}

/* ---- mutations ---- */

/* A string argument; *present tells an explicit null from a missing key. */
static const char *
arg(struct mut *m, const char *key, int *present)
{
	json_object	*v;

	if (!json_object_object_get_ex(m->in, key, &v)) {
		if (present != NULL)
			*present = 0;
		return NULL;
	}
	if (present != NULL)
		*present = 1;
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int
merr(struct mut *m, int code, const char *fmt, const char *what)
{
	snprintf(m->err, sizeof m->err, fmt, what != NULL ? what : "");
	return code;
}

static struct section *
arg_section(struct mut *m, int *code)
{
	const char	*id = arg(m, "section", NULL);
	struct section	*s;

	if (id == NULL) {
		*code = merr(m, 400, "missing \"section\"%s", NULL);
		return NULL;
	}
	if ((s = world_section(m->w, id)) == NULL)
		*code = merr(m, 404, "no such section: %s", id);
	return s;
}

static struct user *
arg_user(struct mut *m, const char *key, enum obj_type want, int *code)
{
	const char	*id = arg(m, key, NULL);
	struct user	*u;

	if (id == NULL) {
		*code = merr(m, 400, "missing \"%s\"", key);
		return NULL;
	}
	u = world_user(m->w, id);
	if (u == NULL || (want != 0 && u->o.type != want)) {
		*code = merr(m, 404, "no such user: %s", id);
		return NULL;
	}
	return u;
}

static char *
adup(struct mut *m, const char *s)
{
	return arena_strdup(m->w->arena, s);
}

/* Equal strings, NULL (JSON null) equal only to NULL. */
static int
same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* One changed field: {"key":old} (under path) for previous_attributes. */
static void
prev_one(struct sbuf *p, const char *const *path, const char *key,
    const char *old)
{
	prev_open(p, path);
	prev_str(p, key, old);
	prev_close(p, path);
}

/* ---- the events each mutation means ---- */

static void
user_event(struct mut *m, struct user *u, const char *type,
    const struct sbuf *prev)
{
	event_record(m->w, u->district, type, &u->o, prev);
}

static void
section_event(struct mut *m, struct section *s, const char *type,
    const struct sbuf *prev)
{
	event_record(m->w, s->district, type, &s->o, prev);
}

/* previous_attributes of a section whose students or teachers changed. */
static void
prev_members(struct sbuf *p, const char *key, const struct ptrv *old)
{
	p->len = 0;
	prev_open(p, NULL);
	prev_ids(p, key, old);
	prev_close(p, NULL);
}

/* A copy of a member list, taken before a mutation changes it. */
static void
ptrv_copy(struct ptrv *dst, const struct ptrv *src)
{
	size_t	i;

	for (i = 0; i < src->n; i++)
		ptrv_push(dst, src->v[i]);
}

/* Enroll or unenroll and record sections.updated with the old roster. */
static int
enroll_event(struct mut *m, struct section *s, struct user *u, int add)
{
	struct ptrv	 old = { 0 };
	struct sbuf	 p = { 0 };
	int		 rc = 0;

	ptrv_copy(&old, &s->students);
	if (add)
		world_enroll(m->w, s, u);
	else
		rc = world_unenroll(m->w, s, u);
	if (rc == 0) {
		prev_members(&p, "students", &old);
		section_event(m, s, "sections.updated", &p);
	}
	sbuf_free(&p);
	ptrv_free(&old);
	return rc;
}

static int
op_add_student(struct mut *m)
{
	struct section	*s;
	struct user	*u;
	int		 code = 0, present;

	if ((s = arg_section(m, &code)) == NULL)
		return code;
	arg(m, "student", &present);
	if (present) {
		if ((u = arg_user(m, "student", OBJ_STUDENT, &code)) == NULL)
			return code;
		if (ptrv_has(&s->students, u))
			return merr(m, 400, "already enrolled%s", NULL);
	} else {
		u = world_new_student(m->w, s, arg(m, "first", NULL),
		    arg(m, "last", NULL));
		user_event(m, u, "users.created", NULL);
	}
	enroll_event(m, s, u, 1);
	json_object_object_add(m->out, "id", jstr(u->o.id));
	return 200;
}

static int
op_remove_student(struct mut *m)
{
	struct section	*s;
	struct user	*u;
	int		 code = 0;

	if ((s = arg_section(m, &code)) == NULL ||
	    (u = arg_user(m, "student", OBJ_STUDENT, &code)) == NULL)
		return code;
	if (enroll_event(m, s, u, 0) == -1)
		return merr(m, 404, "student not in section%s", NULL);
	return 200;
}

/* A student changes sections: two sections.updated, as an SIS sends. */
static int
op_move_student(struct mut *m)
{
	struct section	*from, *to;
	struct user	*u;
	const char	*fid = arg(m, "from", NULL), *tid = arg(m, "to", NULL);
	int		 code = 0;

	if ((u = arg_user(m, "student", OBJ_STUDENT, &code)) == NULL)
		return code;
	if (fid == NULL || tid == NULL)
		return merr(m, 400, "missing \"from\" or \"to\"%s", NULL);
	if ((from = world_section(m->w, fid)) == NULL)
		return merr(m, 404, "no such section: %s", fid);
	if ((to = world_section(m->w, tid)) == NULL)
		return merr(m, 404, "no such section: %s", tid);
	if (!ptrv_has(&from->students, u))
		return merr(m, 404, "student not in section%s", NULL);
	if (ptrv_has(&to->students, u))
		return merr(m, 400, "already enrolled%s", NULL);
	enroll_event(m, from, u, 0);
	enroll_event(m, to, u, 1);
	return 200;
}

/* A student leaves the district: out of every section, then deleted. */
static int
op_delete_user(struct mut *m)
{
	struct user	*u;
	int		 code = 0;

	if ((u = arg_user(m, "user", OBJ_STUDENT, &code)) == NULL)
		return code;
	while (u->sections.n > 0)
		enroll_event(m, u->sections.v[u->sections.n - 1], u, 0);
	world_delete_user(m->w, u);
	user_event(m, u, "users.deleted", NULL);
	return 200;
}

static int
op_rename_user(struct mut *m)
{
	static const char *const name[] = { "name", NULL };
	struct user	*u;
	struct sbuf	 p = { 0 };
	const char	*s;
	int		 code = 0, present, changed;

	if ((u = arg_user(m, "user", 0, &code)) == NULL)
		return code;
	prev_open(&p, name);
	if ((s = arg(m, "first", NULL)) != NULL && strcmp(s, u->first) != 0) {
		prev_str(&p, "first", u->first);
		u->first = adup(m, s);
	}
	s = arg(m, "last", NULL);
	if (s != NULL && strcmp(s, u->last) != 0) {
		prev_str(&p, "last", u->last);
		u->last = adup(m, s);
	}
	s = arg(m, "middle", &present);
	if (present && !same(s, u->middle)) {
		prev_str(&p, "middle", u->middle);
		u->middle = adup(m, s);
	}
	changed = p.p[p.len - 1] != '{';
	prev_close(&p, name);
	world_touch(m->w, &u->last_modified);
	if (changed)		/* Clever records changes, not requests */
		user_event(m, u, "users.updated", &p);
	sbuf_free(&p);
	return 200;
}

static int
op_set_grade(struct mut *m)
{
	static const char *const student[] = { "roles", "student", NULL };
	struct sbuf	 p = { 0 };
	struct user	*u;
	struct section	*s;
	const char	*g;
	int		 code = 0, present;

	g = arg(m, "grade", &present);
	if (!present)
		return merr(m, 400, "missing \"grade\"%s", NULL);
	if (arg(m, "user", NULL) != NULL) {
		if ((u = arg_user(m, "user", OBJ_STUDENT, &code)) == NULL)
			return code;
		if (same(g, u->grade))
			return 200;
		prev_one(&p, student, "grade", u->grade);
		u->grade = adup(m, g);
		world_touch(m->w, &u->last_modified);
		user_event(m, u, "users.updated", &p);
		sbuf_free(&p);
		return 200;
	}
	if ((s = arg_section(m, &code)) == NULL)
		return code;
	if (same(g, s->grade))
		return 200;
	prev_one(&p, NULL, "grade", s->grade);
	s->grade = adup(m, g);
	world_touch(m->w, &s->last_modified);
	section_event(m, s, "sections.updated", &p);
	sbuf_free(&p);
	return 200;
}

static int
op_set_subject(struct mut *m)
{
	struct sbuf	 p = { 0 };
	struct section	*s;
	const char	*subj;
	int		 code = 0;

	if ((s = arg_section(m, &code)) == NULL)
		return code;
	if ((subj = arg(m, "subject", NULL)) == NULL)
		return merr(m, 400, "missing \"subject\"%s", NULL);
	if (same(subj, s->subject))
		return 200;
	prev_one(&p, NULL, "subject", s->subject);
	s->subject = adup(m, subj);
	world_touch(m->w, &s->last_modified);
	section_event(m, s, "sections.updated", &p);
	sbuf_free(&p);
	return 200;
}

static int
op_add_section(struct mut *m)
{
	struct user	*t, *u;
	struct section	*s;
	json_object	*a;
	const char	*v;
	size_t		 i;
	int		 code = 0;

	if ((t = arg_user(m, "teacher", OBJ_TEACHER, &code)) == NULL)
		return code;
	/* Check the students before creating anything. */
	if (json_object_object_get_ex(m->in, "students", &a)) {
		if (!json_object_is_type(a, json_type_array))
			return merr(m, 400, "\"students\" must be an array%s",
			    NULL);
		for (i = 0; i < json_object_array_length(a); i++) {
			v = json_object_get_string(
			    json_object_array_get_idx(a, i));
			u = v != NULL ? world_user(m->w, v) : NULL;
			if (u == NULL || u->o.type != OBJ_STUDENT)
				return merr(m, 404, "no such student: %s", v);
		}
	} else
		a = NULL;
	s = world_new_section(m->w, t);
	if ((v = arg(m, "name", NULL)) != NULL)
		s->name = adup(m, v);
	if ((v = arg(m, "subject", NULL)) != NULL)
		s->subject = adup(m, v);
	if ((v = arg(m, "grade", NULL)) != NULL)
		s->grade = adup(m, v);
	for (i = 0; a != NULL && i < json_object_array_length(a); i++) {
		u = world_user(m->w, json_object_get_string(
		    json_object_array_get_idx(a, i)));
		if (!ptrv_has(&s->students, u))
			world_enroll(m->w, s, u);
	}
	section_event(m, s, "sections.created", NULL);
	json_object_object_add(m->out, "id", jstr(s->o.id));
	return 200;
}

static int
op_delete_section(struct mut *m)
{
	struct section	*s;
	int		 code = 0;

	if ((s = arg_section(m, &code)) == NULL)
		return code;
	world_delete_section(m->w, s);
	section_event(m, s, "sections.deleted", NULL);
	return 200;
}

static int
op_add_coteacher(struct mut *m)
{
	struct ptrv	 old = { 0 };
	struct sbuf	 p = { 0 };
	struct section	*s;
	struct user	*t;
	int		 code = 0;

	if ((s = arg_section(m, &code)) == NULL ||
	    (t = arg_user(m, "teacher", OBJ_TEACHER, &code)) == NULL)
		return code;
	if (section_has_teacher(s, t))
		return merr(m, 400, "already a teacher of this section%s",
		    NULL);
	ptrv_copy(&old, &s->teachers);
	world_add_teacher(m->w, s, t);
	prev_members(&p, "teachers", &old);
	section_event(m, s, "sections.updated", &p);
	sbuf_free(&p);
	ptrv_free(&old);
	return 200;
}

static struct obj *
arg_token(struct mut *m, int *code)
{
	const char	*tok = arg(m, "token", NULL);
	struct obj	*o;

	if (tok == NULL) {
		*code = merr(m, 400, "missing \"token\"%s", NULL);
		return NULL;
	}
	if ((o = world_token(m->w, tok)) == NULL)
		*code = merr(m, 404, "unknown token%s", NULL);
	return o;
}

static int
op_revoke_token(struct mut *m)
{
	struct obj	*o;
	int		 code = 0;

	if ((o = arg_token(m, &code)) == NULL)
		return code;
	if (o->type == OBJ_DISTRICT)
		((struct district *)o)->revoked = 1;
	else
		((struct user *)o)->revoked = 1;
	return 200;
}

static int
op_set_authorization(struct mut *m)
{
	struct obj	*o;
	const char	*by = arg(m, "authorized_by", NULL);
	int		 code = 0;

	if ((o = arg_token(m, &code)) == NULL)
		return code;
	if (o->type != OBJ_TEACHER)
		return merr(m, 400, "not a teacher token%s", NULL);
	if (by == NULL || (strcmp(by, "district") != 0 &&
	    strcmp(by, "teacher") != 0))
		return merr(m, 400, "authorized_by must be \"district\" or "
		    "\"teacher\"%s", NULL);
	((struct user *)o)->auth_district = strcmp(by, "district") == 0;
	m->w->gen++;
	return 200;
}

static int
op_set_email(struct mut *m)
{
	struct sbuf	 p = { 0 };
	struct user	*u;
	const char	*e;
	int		 code = 0, present;

	if ((u = arg_user(m, "user", 0, &code)) == NULL)
		return code;
	e = arg(m, "email", &present);
	if (!present)
		return merr(m, 400, "missing \"email\"%s", NULL);
	if (same(e, u->email))
		return 200;
	prev_one(&p, NULL, "email", u->email);
	u->email = adup(m, e);
	world_touch(m->w, &u->last_modified);
	user_event(m, u, "users.updated", &p);
	sbuf_free(&p);
	return 200;
}

static const struct {
	const char	*name;
	int		(*fn)(struct mut *);
} ops[] = {
	{ "add_student", op_add_student },
	{ "remove_student", op_remove_student },
	{ "move_student", op_move_student },
	{ "delete_user", op_delete_user },
	{ "rename_user", op_rename_user },
	{ "set_grade", op_set_grade },
	{ "set_subject", op_set_subject },
	{ "add_section", op_add_section },
	{ "delete_section", op_delete_section },
	{ "add_coteacher", op_add_coteacher },
	{ "revoke_token", op_revoke_token },
	{ "set_authorization", op_set_authorization },
	{ "set_email", op_set_email },
};

static json_object *
read_json(struct evhttp_request *req)
{
	struct evbuffer		*ib = evhttp_request_get_input_buffer(req);
	size_t			 len = evbuffer_get_length(ib);
	json_tokener		*tk;
	json_object		*o;

	if (len == 0 || len > MAX_BODY)
		return NULL;
	tk = json_tokener_new();
	o = json_tokener_parse_ex(tk, (const char *)evbuffer_pullup(ib, -1),
	    (int)len);
	if (json_tokener_get_error(tk) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tk);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static void
ctl_mutate(struct sbx *sbx, struct evhttp_request *req)
{
	struct mut	 m = { .sbx = sbx, .w = sbx->world };
	const char	*op;
	size_t		 i;
	int		 code;

	if ((m.in = read_json(req)) == NULL) {
		ctl_error(req, 400, "body must be a JSON object");
		return;
	}
	op = arg(&m, "op", NULL);
	for (i = 0; op != NULL && i < sizeof ops / sizeof ops[0]; i++)
		if (strcmp(op, ops[i].name) == 0)
			break;
	if (op == NULL || i == sizeof ops / sizeof ops[0]) {
		json_object_put(m.in);
		ctl_error(req, 400, "unknown or missing \"op\"");
		return;
	}
	m.out = json_object_new_object();
	m.w->mutations++;
	code = ops[i].fn(&m);
	json_object_put(m.in);
	if (code != 200) {
		json_object_put(m.out);
		ctl_error(req, code, m.err);
		return;
	}
	json_object_object_add(m.out, "ok", json_object_new_boolean(1));
	ctl_send(req, 200, m.out);
}

static void
ctl_faults(struct sbx *sbx, struct evhttp_request *req)
{
	json_object	*in, *v;
	struct faults	 f = sbx->faults;
	enum etag_mode	 etag = sbx->etag;
	int		 k;

	if ((in = read_json(req)) == NULL) {
		ctl_error(req, 400, "body must be a JSON object");
		return;
	}
	if (json_object_object_get_ex(in, "rates", &v)) {
		if (!json_object_is_type(v, json_type_object))
			goto bad;
		/* The given rates replace the old ones; others become 0. */
		memset(f.rate, 0, sizeof f.rate);
		json_object_object_foreach(v, key, val) {
			if ((k = fault_kind_parse(key)) == -1)
				goto bad;
			f.rate[k] = json_object_get_double(val);
			if (f.rate[k] < 0 || f.rate[k] > 1)
				goto bad;
		}
	}
	if (json_object_object_get_ex(in, "latency_ms", &v))
		f.latency_ms = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(in, "seed", &v))
		fault_reseed(&f, (uint64_t)json_object_get_int64(v));
	if (json_object_object_get_ex(in, "etag", &v)) {
		if ((k = etag_mode_parse(json_object_get_string(v))) == -1)
			goto bad;
		etag = (enum etag_mode)k;
	}
	json_object_put(in);
	sbx->faults = f;
	sbx->etag = etag;
	ctl_send(req, 200, faults_json(sbx));
	return;
bad:
	json_object_put(in);
	ctl_error(req, 400, "rates must map fault kinds (500, 502, 503, 429, "
	    "html404, malformed, truncated, reset, stall) to 0..1; etag is "
	    "on, off or ignore");
}

/*
 * {"token":T, "kind":K, "route"?:"/users/{id}/mystudents"|"*",
 *  "bytes"?:N, "interval_ms"?:M}: T's responses on that route become
 * hostile (kind "none": normal again).
 */
static void
ctl_hostile(struct sbx *sbx, struct evhttp_request *req)
{
	json_object	*in, *v;
	const char	*token = NULL, *route = "*";
	int		 kind = -1;
	uint64_t	 bytes = 0;
	unsigned	 interval = 0;

	if ((in = read_json(req)) == NULL) {
		ctl_error(req, 400, "body must be a JSON object");
		return;
	}
	if (json_object_object_get_ex(in, "token", &v))
		token = json_object_get_string(v);
	if (json_object_object_get_ex(in, "kind", &v))
		kind = hostile_kind_parse(json_object_get_string(v));
	if (json_object_object_get_ex(in, "route", &v))
		route = json_object_get_string(v);
	if (json_object_object_get_ex(in, "bytes", &v))
		bytes = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(in, "interval_ms", &v))
		interval = (unsigned)json_object_get_int(v);
	if (token == NULL || kind == -1 || strlen(token) >= 128 ||
	    strlen(route) >= 64) {
		json_object_put(in);
		ctl_error(req, 400, "expected {\"token\", \"kind\": none, huge, "
		    "dribble, deep or badutf8, \"route\"?, \"bytes\"?, "
		    "\"interval_ms\"?}");
		return;
	}
	if (hostile_set(sbx, token, route, (enum hostile_kind)kind, bytes,
	    interval) == -1) {
		json_object_put(in);
		ctl_error(req, 400, "too many hostile rules");
		return;
	}
	json_object_put(in);
	v = json_object_new_object();
	json_object_object_add(v, "ok", json_object_new_boolean(1));
	ctl_send(req, 200, v);
}

/*
 * GET /events[?district=D]: the events D's token would page through now
 * (the first district by default), without the paging or the rate limit.
 */
static void
ctl_events(struct sbx *sbx, struct evhttp_request *req)
{
	struct world		*w = sbx->world;
	struct evkeyvalq	 q;
	const struct evhttp_uri	*eu = evhttp_request_get_evhttp_uri(req);
	const char		*query = evhttp_uri_get_query(eu), *id;
	struct district		*d = NULL;
	json_object		*o, *a;
	size_t			 i;

	TAILQ_INIT(&q);
	if (query != NULL)
		evhttp_parse_query_str(query, &q);
	id = evhttp_find_header(&q, "district");
	for (i = 0; i < w->districts.n && d == NULL; i++)
		if (id == NULL || strcmp(id,
		    ((struct obj *)w->districts.v[i])->id) == 0)
			d = w->districts.v[i];
	evhttp_clear_headers(&q);
	if (d == NULL) {
		ctl_error(req, 404, "no such district");
		return;
	}
	events_expire(w, d);
	o = json_object_new_object();
	a = json_object_new_array();
	json_object_object_add(o, "district", jstr(d->o.id));
	add_count(o, "count", d->events.n);
	for (i = 0; i < d->events.n; i++) {
		json_object *ev = json_tokener_parse(
		    ((struct sbx_event *)d->events.v[i])->json);

		json_object_array_add(a, ev);
	}
	json_object_object_add(o, "events", a);
	ctl_send(req, 200, o);
}

static json_object *
clock_json(struct world *w)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "now", json_object_new_int64(world_now(w)));
	json_object_object_add(o, "offset_s",
	    json_object_new_int64(w->clock_off_s));
	return o;
}

/* POST /clock {"advance_s": N}: the sandbox's clock moves N s forward. */
static void
ctl_clock(struct sbx *sbx, struct evhttp_request *req)
{
	json_object	*in, *v;
	int64_t		 n;

	if ((in = read_json(req)) == NULL ||
	    !json_object_object_get_ex(in, "advance_s", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    (n = json_object_get_int64(v)) < 0) {
		json_object_put(in);
		ctl_error(req, 400, "expected {\"advance_s\": seconds >= 0}");
		return;
	}
	json_object_put(in);
	sbx->world->clock_off_s += n;
	ctl_send(req, 200, clock_json(sbx->world));
}

/* Back to the generated (or loaded) data, CLI fault settings, zero stats. */
void
sbx_reset(struct sbx *sbx)
{
	struct world	*w;
	char		*err = NULL;

	if ((w = world_create(&sbx->gen, &err)) == NULL) {
		log_warnx("reset: %s", err);
		free(err);
		return;
	}
	world_free(sbx->world);
	sbx->world = w;
	memset(&sbx->stats, 0, sizeof sbx->stats);
	sbx->nhostile = 0;
	memset(&sbx->app_bucket, 0, sizeof sbx->app_bucket);
	memcpy(sbx->faults.rate, sbx->rate0, sizeof sbx->rate0);
	sbx->faults.latency_ms = sbx->latency0;
	sbx->etag = sbx->etag0;
	fault_reseed(&sbx->faults, sbx->fault_seed0);
}

void
control_request(struct evhttp_request *req, void *arg)
{
	struct sbx		*sbx = arg;
	const struct evhttp_uri	*eu = evhttp_request_get_evhttp_uri(req);
	const char		*path = eu != NULL ? evhttp_uri_get_path(eu) :
				    NULL;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	int			 get = cmd == EVHTTP_REQ_GET;
	int			 post = cmd == EVHTTP_REQ_POST;

	if (path == NULL)
		path = "/";
	if (get && strcmp(path, "/teachers") == 0)
		ctl_send(req, 200, teachers_json(sbx->world));
	else if (get && strcmp(path, "/districts") == 0)
		ctl_send(req, 200, districts_json(sbx->world));
	else if (get && strcmp(path, "/stats") == 0)
		ctl_send(req, 200, stats_json(sbx));
	else if (get && strcmp(path, "/events") == 0)
		ctl_events(sbx, req);
	else if (get && strcmp(path, "/clock") == 0)
		ctl_send(req, 200, clock_json(sbx->world));
	else if (post && strcmp(path, "/clock") == 0)
		ctl_clock(sbx, req);
	else if (get && strcmp(path, "/faults") == 0)
		ctl_send(req, 200, faults_json(sbx));
	else if (post && strcmp(path, "/faults") == 0)
		ctl_faults(sbx, req);
	else if (post && strcmp(path, "/hostile") == 0)
		ctl_hostile(sbx, req);
	else if (post && strcmp(path, "/mutate") == 0)
		ctl_mutate(sbx, req);
	else if (post && strcmp(path, "/reset") == 0) {
		json_object *o = json_object_new_object();

		sbx_reset(sbx);
		json_object_object_add(o, "ok", json_object_new_boolean(1));
		ctl_send(req, 200, o);
	} else
		ctl_error(req, 404, "unknown control endpoint");
}
