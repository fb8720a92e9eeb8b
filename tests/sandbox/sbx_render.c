/*
 * JSON for users and sections, shaped like the recorded Clever responses.
 * Each object is rendered once per view and cached until the next
 * mutation, so serving a list is mostly memcpy.
 */
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "sandbox.h"

/* "key": "value", — with the comma handled by the caller's layout. */
static void
kv(struct sbuf *b, const char *key, const char *val)
{
	sbuf_jstr(b, key);
	SBUF_LIT(b, ":");
	sbuf_jstr(b, val);
}

static void
kv_c(struct sbuf *b, const char *key, const char *val)
{
	kv(b, key, val);
	SBUF_LIT(b, ",");
}

/* Same, but the pair is left out when val is NULL. */
static void
kv_opt(struct sbuf *b, const char *key, const char *val)
{
	if (val != NULL)
		kv_c(b, key, val);
}

static void
id_array(struct sbuf *b, const struct ptrv *pv)
{
	size_t	i;

	SBUF_LIT(b, "[");
	for (i = 0; i < pv->n; i++) {
		if (i > 0)
			SBUF_LIT(b, ",");
		SBUF_LIT(b, "\"");
		sbuf_add(b, ((struct obj *)pv->v[i])->id, SBX_IDLEN);
		SBUF_LIT(b, "\"");
	}
	SBUF_LIT(b, "]");
}

/* The first UTF-8 character of s: what Library shows of a last name. */
static void
initial(struct sbuf *b, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = 1;
	char			 tmp[8];

	if (*p == '\0') {
		SBUF_LIT(b, "\"\"");
		return;
	}
	if (*p >= 0xf0)
		n = 4;
	else if (*p >= 0xe0)
		n = 3;
	else if (*p >= 0xc0)
		n = 2;
	if (strnlen(s, n) < n)
		n = strnlen(s, n);
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	sbuf_jstr(b, tmp);
}

static void
render_name(struct sbuf *b, const struct user *u, int full_last)
{
	SBUF_LIT(b, "\"name\":{");
	kv_c(b, "first", u->first);
	SBUF_LIT(b, "\"last\":");
	if (full_last) {
		sbuf_jstr(b, u->last);
		SBUF_LIT(b, ",");
		kv(b, "middle", u->middle);
	} else
		initial(b, u->last);
	SBUF_LIT(b, "}");
}

static void
render_teacher(struct sbuf *b, const struct user *u, enum view v)
{
	SBUF_LIT(b, "{");
	kv_c(b, "created", u->created);
	if (v == VIEW_FULL)
		kv_c(b, "district", u->district->o.id);
	kv_opt(b, "email", u->email);
	kv_c(b, "id", u->o.id);
	kv_c(b, "last_modified", u->last_modified);
	render_name(b, u, 1);
	SBUF_LIT(b, ",\"roles\":{\"teacher\":{");
	if (v == VIEW_FULL) {
		SBUF_LIT(b, "\"credentials\":{");
		kv(b, "district_username", u->username);
		SBUF_LIT(b, "},\"ext\":{\"admin_permissions\":\"\"},");
		kv_c(b, "legacy_id", u->legacy_id);
		kv_c(b, "school", u->school);
		SBUF_LIT(b, "\"schools\":[");
		sbuf_jstr(b, u->school);
		SBUF_LIT(b, "],");
		kv_c(b, "sis_id", u->sis_id);
		kv_c(b, "state_id", u->state_id);
		if (u->title != NULL) {
			kv_c(b, "teacher_number", u->number);
			kv(b, "title", u->title);
		} else
			kv(b, "teacher_number", u->number);
	}
	SBUF_LIT(b, "}}}");
}

static void
render_student(struct sbuf *b, const struct user *u, enum view v)
{
	SBUF_LIT(b, "{");
	kv_c(b, "created", u->created);
	if (v == VIEW_LIBRARY) {
		kv_c(b, "id", u->o.id);
		kv_c(b, "last_modified", u->last_modified);
		render_name(b, u, 0);
		SBUF_LIT(b, ",\"roles\":{\"student\":{");
		if (u->grade != NULL)
			kv(b, "grade", u->grade);
		SBUF_LIT(b, "}}}");
		return;
	}
	kv_c(b, "district", u->district->o.id);
	kv_opt(b, "email", u->email);
	kv_c(b, "last_modified", u->last_modified);
	render_name(b, u, 1);
	SBUF_LIT(b, ",");
	kv_c(b, "id", u->o.id);
	SBUF_LIT(b, "\"roles\":{\"student\":{\"credentials\":{");
	kv(b, "district_username", u->username);
	SBUF_LIT(b, "},");
	kv_opt(b, "dob", u->dob);
	SBUF_LIT(b, "\"enrollments\":[],\"ext\":{");
	kv(b, "gifted_status", u->gifted);
	SBUF_LIT(b, "},");
	kv_c(b, "gender", u->gender);
	kv_opt(b, "grade", u->grade);
	SBUF_LIT(b, "\"graduation_year\":\"\",");
	kv_c(b, "hispanic_ethnicity", u->hispanic);
	SBUF_LIT(b, "\"location\":{\"address\":\"\",\"city\":\"\","
	    "\"state\":\"\",");
	kv(b, "zip", u->zip);
	SBUF_LIT(b, "},");
	kv_c(b, "race", u->race);
	kv_c(b, "school", u->school);
	SBUF_LIT(b, "\"schools\":[");
	sbuf_jstr(b, u->school);
	SBUF_LIT(b, "],");
	kv_c(b, "sis_id", u->sis_id);
	kv_c(b, "state_id", u->state_id);
	if (u->email != NULL) {
		kv_c(b, "student_number", u->number);
		kv(b, "email", u->email);
	} else
		kv(b, "student_number", u->number);
	SBUF_LIT(b, "}}}");
}

static void
render_section(struct sbuf *b, const struct section *s, enum view v)
{
	const struct user	*primary = s->teachers.n > 0 ?
	    s->teachers.v[0] : NULL;

	SBUF_LIT(b, "{");
	if (v == VIEW_FULL)
		kv_c(b, "course", s->course);
	kv_c(b, "created", s->created);
	if (v == VIEW_FULL) {
		kv_c(b, "district", s->district->o.id);
		SBUF_LIT(b, "\"ext\":{");
		kv(b, "classroom", s->classroom);
		SBUF_LIT(b, "},");
	}
	kv_opt(b, "grade", s->grade);
	kv_c(b, "last_modified", s->last_modified);
	kv_c(b, "name", s->name);
	if (v == VIEW_FULL) {
		kv_opt(b, "period", s->period);
		kv_c(b, "school", s->school);
	}
	kv_opt(b, "section_number", s->section_number);
	if (v == VIEW_FULL)
		kv_c(b, "sis_id", s->sis_id);
	SBUF_LIT(b, "\"students\":");
	id_array(b, &s->students);
	SBUF_LIT(b, ",");
	kv_c(b, "subject", s->subject);
	kv_c(b, "teacher", primary != NULL ? primary->o.id : NULL);
	SBUF_LIT(b, "\"teachers\":");
	id_array(b, &s->teachers);
	SBUF_LIT(b, ",");
	if (v == VIEW_FULL)
		kv_opt(b, "term_id", s->term_id);
	kv(b, "id", s->o.id);
	SBUF_LIT(b, "}");
}

void
render_obj(struct world *w, struct obj *o, enum view v, struct sbuf *out)
{
	struct sbuf	b = { 0 };

	if (o->type == OBJ_EVENT) {	/* rendered once, when it happened */
		sbuf_add(out, ((struct sbx_event *)o)->json,
		    ((struct sbx_event *)o)->len);
		return;
	}
	if (o->cache[v] == NULL || o->cachegen[v] != w->gen) {
		switch (o->type) {
		case OBJ_TEACHER:
			render_teacher(&b, (struct user *)o, v);
			break;
		case OBJ_STUDENT:
			render_student(&b, (struct user *)o, v);
			break;
		case OBJ_SECTION:
			render_section(&b, (struct section *)o, v);
			break;
		default:
			SBUF_LIT(&b, "{}");
			break;
		}
		free(o->cache[v]);
		o->cache[v] = b.p;
		o->cachelen[v] = b.len;
		o->cachegen[v] = w->gen;
	}
	sbuf_add(out, o->cache[v], o->cachelen[v]);
}
