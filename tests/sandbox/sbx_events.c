/*
 * Clever's Events: every mutation records the events it means, per
 * district, as GET /events serves them (shaped like the recorded
 * /v3.0/events pages).  The sandbox's own clock (real time moved on by
 * POST /clock) dates them, so tests can age them past the 30-day window.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sandbox.h"

int64_t
world_now(const struct world *w)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec + w->clock_off_s;
}

/*
 * ObjectID-like, as Clever's event ids: 4 bytes of time, 5 of machine,
 * 3 of counter.  The time part never goes back and the counter always
 * grows, so ids sort in the order the events happened.
 */
static void
event_id(struct world *w, int64_t now, char *out)
{
	if (now < w->evlast_s)
		now = w->evlast_s;
	w->evlast_s = now;
	snprintf(out, SBX_IDLEN + 1, "%08x%08x%02x%06x",
	    (unsigned)(uint32_t)now, (unsigned)(w->idmachine ^ 0x31f12f05u),
	    0xccu, (unsigned)(++w->evctr & 0xffffff));
}

/*
 * {"created":..,"data":{"object":{..}[,"previous_attributes":{..}]},
 *  "id":..,"type":..}: key order as recorded.  The object is rendered in
 * the full (district) view as it is now, after the mutation.
 */
void
event_record(struct world *w, struct district *d, const char *type,
    struct obj *o, const struct sbuf *prev)
{
	struct sbx_event	*ev = arena_alloc(w->arena, sizeof *ev);
	struct sbuf		 b = { 0 };
	struct tm		 tm;
	time_t			 t;
	char			 created[40];

	ev->o.type = OBJ_EVENT;
	ev->created_s = world_now(w);
	event_id(w, ev->created_s, ev->o.id);
	t = (time_t)ev->created_s;
	gmtime_r(&t, &tm);
	strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%S.000Z", &tm);

	SBUF_LIT(&b, "{\"created\":");
	sbuf_jstr(&b, created);
	SBUF_LIT(&b, ",\"data\":{\"object\":");
	render_obj(w, o, VIEW_FULL, &b);
	if (prev != NULL && prev->len > 0) {
		SBUF_LIT(&b, ",\"previous_attributes\":");
		sbuf_add(&b, prev->p, prev->len);
	}
	SBUF_LIT(&b, "},\"id\":");
	sbuf_jstr(&b, ev->o.id);
	SBUF_LIT(&b, ",\"type\":");
	sbuf_jstr(&b, type);
	SBUF_LIT(&b, "}");
	ev->json = arena_alloc(w->arena, b.len + 1);
	memcpy(ev->json, b.p, b.len + 1);
	ev->len = b.len;
	sbuf_free(&b);
	ptrv_push(&d->events, ev);
}

/* Drop what is older than the window: Clever removes it for good. */
void
events_expire(struct world *w, struct district *d)
{
	int64_t	oldest = world_now(w) - EVENT_WINDOW_S;
	size_t	lo = 0, hi = d->events.n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (((struct sbx_event *)d->events.v[mid])->created_s < oldest)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return;
	memmove(d->events.v, d->events.v + lo,
	    (d->events.n - lo) * sizeof *d->events.v);
	d->events.n -= lo;
}

struct sbx_event *
event_find(const struct district *d, const char *id)
{
	size_t	lo = 0, hi = d->events.n, mid;
	int	c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strcmp(((struct obj *)d->events.v[mid])->id, id);
		if (c == 0)
			return d->events.v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * previous_attributes, nested as Clever nests them: path {"roles",
 * "student", NULL} and prev_str(b, "grade", old) give
 * {"roles":{"student":{"grade":old}}}.
 */
void
prev_open(struct sbuf *b, const char *const *path)
{
	SBUF_LIT(b, "{");
	for (; path != NULL && *path != NULL; path++) {
		sbuf_jstr(b, *path);
		SBUF_LIT(b, ":{");
	}
}

static void
prev_key(struct sbuf *b, const char *key)
{
	if (b->p[b->len - 1] != '{')
		SBUF_LIT(b, ",");
	sbuf_jstr(b, key);
	SBUF_LIT(b, ":");
}

void
prev_str(struct sbuf *b, const char *key, const char *val)
{
	prev_key(b, key);
	sbuf_jstr(b, val);
}

void
prev_ids(struct sbuf *b, const char *key, const struct ptrv *pv)
{
	size_t	i;

	prev_key(b, key);
	SBUF_LIT(b, "[");
	for (i = 0; i < pv->n; i++) {
		if (i > 0)
			SBUF_LIT(b, ",");
		sbuf_jstr(b, ((struct obj *)pv->v[i])->id);
	}
	SBUF_LIT(b, "]");
}

void
prev_close(struct sbuf *b, const char *const *path)
{
	for (; path != NULL && *path != NULL; path++)
		SBUF_LIT(b, "}");
	SBUF_LIT(b, "}");
}
