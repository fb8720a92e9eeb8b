/*
 * Small containers for the sandbox: byte buffer with JSON string escaping,
 * pointer vector, string hash map, PRNG and a bump allocator.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "sandbox.h"

void
sbuf_grow(struct sbuf *b, size_t need)
{
	size_t	cap = b->cap ? b->cap : 256;

	while (cap - b->len < need)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void
sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (b->cap - b->len < (size_t)n + 1)
		sbuf_grow(b, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Quote a string for JSON; UTF-8 passes through untouched. */
void
sbuf_jstr(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char	*p, *run;
	char			 esc[7];

	if (s == NULL) {
		SBUF_LIT(b, "null");
		return;
	}
	SBUF_LIT(b, "\"");
	for (p = run = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		sbuf_add(b, run, p - run);
		run = p + 1;
		switch (*p) {
		case '"':
			SBUF_LIT(b, "\\\"");
			break;
		case '\\':
			SBUF_LIT(b, "\\\\");
			break;
		case '\n':
			SBUF_LIT(b, "\\n");
			break;
		case '\t':
			SBUF_LIT(b, "\\t");
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			sbuf_add(b, esc, 6);
		}
	}
	sbuf_add(b, run, p - run);
	SBUF_LIT(b, "\"");
}

void
sbuf_free(struct sbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void
ptrv_push(struct ptrv *pv, void *p)
{
	if (pv->n == pv->cap) {
		pv->cap = pv->cap ? pv->cap * 2 : 8;
		pv->v = xreallocarray(pv->v, pv->cap, sizeof *pv->v);
	}
	pv->v[pv->n++] = p;
}

static int
obj_cmp(const void *a, const void *b)
{
	const struct obj *oa = *(struct obj *const *)a;
	const struct obj *ob = *(struct obj *const *)b;

	return strcmp(oa->id, ob->id);
}

void
ptrv_insert_sorted(struct ptrv *pv, void *p)
{
	const struct obj	*o = p;
	size_t			 lo = 0, hi = pv->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (strcmp(((struct obj *)pv->v[mid])->id, o->id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	ptrv_push(pv, p);
	memmove(pv->v + lo + 1, pv->v + lo, (pv->n - 1 - lo) * sizeof *pv->v);
	pv->v[lo] = p;
}

int
ptrv_remove(struct ptrv *pv, void *p)
{
	size_t	i;

	for (i = 0; i < pv->n; i++) {
		if (pv->v[i] != p)
			continue;
		memmove(pv->v + i, pv->v + i + 1,
		    (pv->n - i - 1) * sizeof *pv->v);
		pv->n--;
		return 1;
	}
	return 0;
}

int
ptrv_has(const struct ptrv *pv, const void *p)
{
	size_t	i;

	for (i = 0; i < pv->n; i++)
		if (pv->v[i] == p)
			return 1;
	return 0;
}

void
ptrv_sort(struct ptrv *pv)
{
	if (pv->n > 1)
		qsort(pv->v, pv->n, sizeof *pv->v, obj_cmp);
}

void
ptrv_free(struct ptrv *pv)
{
	free(pv->v);
	pv->v = NULL;
	pv->n = pv->cap = 0;
}

static uint64_t
map_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static void
map_grow(struct map *m)
{
	struct map_ent	*old = m->e;
	size_t		 oldcap = m->cap, i;

	m->cap = m->cap ? m->cap * 2 : 64;
	m->e = xcalloc(m->cap, sizeof *m->e);
	m->n = 0;
	for (i = 0; i < oldcap; i++)
		if (old[i].key != NULL)
			map_put(m, old[i].key, old[i].val);
	free(old);
}

/* Insert or replace. */
void
map_put(struct map *m, const char *key, void *val)
{
	size_t	i;

	if ((m->n + 1) * 2 > m->cap)
		map_grow(m);
	for (i = map_hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->e[i].key == NULL) {
			m->e[i].key = key;
			m->e[i].val = val;
			m->n++;
			return;
		}
		if (strcmp(m->e[i].key, key) == 0) {
			m->e[i].key = key;
			m->e[i].val = val;
			return;
		}
	}
}

void *
map_get(const struct map *m, const char *key)
{
	size_t	i;

	if (m->cap == 0)
		return NULL;
	for (i = map_hash(key) & (m->cap - 1); m->e[i].key != NULL;
	    i = (i + 1) & (m->cap - 1)) {
		if (strcmp(m->e[i].key, key) == 0)
			return m->e[i].val;
	}
	return NULL;
}

void
map_free(struct map *m)
{
	free(m->e);
	m->e = NULL;
	m->cap = m->n = 0;
}

void
rng_seed(struct rng *r, uint64_t seed)
{
	r->s = seed ^ 0x5deece66dULL;
}

uint64_t
rng_next(struct rng *r)
{
	uint64_t	z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint32_t
rng_below(struct rng *r, uint32_t n)
{
	return n == 0 ? 0 : (uint32_t)((rng_next(r) >> 32) * n >> 32);
}

int
rng_range(struct rng *r, int lo, int hi)
{
	return lo + (int)rng_below(r, (uint32_t)(hi - lo + 1));
}

double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

int
rng_chance(struct rng *r, double p)
{
	return rng_unit(r) < p;
}

#define ARENA_BLOCK	(1024 * 1024)

struct arena_block {
	struct arena_block	*next;
	size_t			 used;
	size_t			 size;
	char			 data[];
};

struct arena {
	struct arena_block	*head;
};

struct arena *
arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_block	*b = a->head;
	void			*p;

	n = (n + 15) & ~(size_t)15;
	if (b == NULL || b->size - b->used < n) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		b = xcalloc(1, sizeof *b + size);
		b->size = size;
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	size_t	 n;
	char	*p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	p = arena_alloc(a, n);
	memcpy(p, s, n);
	return p;
}

void
arena_free(struct arena *a)
{
	struct arena_block	*b, *next;

	if (a == NULL)
		return;
	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}
