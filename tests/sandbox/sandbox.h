/*
 * clever-sandbox: a fake of the Clever v3 Data API for tests, benchmarks
 * and demos.  One event loop, one process; see README.md beside this file.
 */
#ifndef SBX_SANDBOX_H
#define SBX_SANDBOX_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct event;
struct event_base;
struct evhttp;
struct evhttp_request;
struct ssl_ctx_st;

#define SBX_IDLEN	24

/* Growable byte buffer; every response body is built in one of these. */
struct sbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

void	 sbuf_grow(struct sbuf *, size_t);
void	 sbuf_adds(struct sbuf *, const char *);
void	 sbuf_printf(struct sbuf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 sbuf_jstr(struct sbuf *, const char *);	/* "..." or null */
void	 sbuf_free(struct sbuf *);

static inline void
sbuf_add(struct sbuf *b, const void *d, size_t n)
{
	if (b->cap - b->len < n + 1)
		sbuf_grow(b, n + 1);
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
}
#define SBUF_LIT(b, s)	sbuf_add((b), (s), sizeof(s) - 1)

/* Vector of pointers. */
struct ptrv {
	void	**v;
	size_t	  n;
	size_t	  cap;
};

void	 ptrv_push(struct ptrv *, void *);
void	 ptrv_insert_sorted(struct ptrv *, void *);	/* by object id */
int	 ptrv_remove(struct ptrv *, void *);
int	 ptrv_has(const struct ptrv *, const void *);
void	 ptrv_sort(struct ptrv *);			/* by object id */
void	 ptrv_free(struct ptrv *);

/* String-keyed hash map; keys are owned by the caller. */
struct map_ent {
	const char	*key;
	void		*val;
};
struct map {
	struct map_ent	*e;
	size_t		 cap;
	size_t		 n;
};

void	 map_put(struct map *, const char *, void *);
void	*map_get(const struct map *, const char *);
void	 map_free(struct map *);

/* splitmix64: small, fast and reproducible across platforms. */
struct rng {
	uint64_t	s;
};

void	 rng_seed(struct rng *, uint64_t);
uint64_t rng_next(struct rng *);
uint32_t rng_below(struct rng *, uint32_t);
int	 rng_range(struct rng *, int, int);		/* inclusive */
double	 rng_unit(struct rng *);
int	 rng_chance(struct rng *, double);

/* Bump allocator for the data set: freed in one go on reset/exit. */
struct arena;
struct arena	*arena_new(void);
void		*arena_alloc(struct arena *, size_t);	/* zeroed */
char		*arena_strdup(struct arena *, const char *);
void		 arena_free(struct arena *);

/* Rate-limit bucket. */
struct bucket {
	uint64_t	start_ms;	/* monotonic, window opening */
	int64_t		reset_s;	/* epoch seconds shown in headers */
	int64_t		key;		/* wall mode: window index */
	uint32_t	used;
	int		open;
	uint32_t	windows;	/* windows opened so far */
	uint32_t	full;		/* 429s because this bucket was full */
};

/* ---- data model (sbx_data.c) ---- */

enum obj_type {
	OBJ_DISTRICT = 1,
	OBJ_TEACHER,
	OBJ_STUDENT,
	OBJ_SECTION,
	OBJ_EVENT,
};

enum view {
	VIEW_LIBRARY = 0,	/* teacher-authorized token */
	VIEW_FULL,		/* district-authorized */
	VIEW_MAX
};

/* Every object starts with this so a map value can be inspected. */
struct obj {
	enum obj_type	 type;
	char		 id[SBX_IDLEN + 1];
	/* Rendered JSON per view, valid while gen matches world->gen. */
	char		*cache[VIEW_MAX];
	size_t		 cachelen[VIEW_MAX];
	unsigned	 cachegen[VIEW_MAX];
};

struct district {
	struct obj	 o;
	char		*name;
	char		*token;
	int		 revoked;
	struct bucket	 bucket;
	uint64_t	 requests;
	uint64_t	 limited;
	unsigned	 nteachers;
	char		*schools[4];
	int		 elementary[4];
	/* Sorted lists for /users and /sections, rebuilt when stale. */
	struct ptrv	 all_users;
	struct ptrv	 all_sections;
	unsigned	 sorted_gen;
	int		 sorted_valid;
	struct ptrv	 events;	/* struct sbx_event, oldest first */
};

/* Teacher or student: the kind is o.type. */
struct user {
	struct obj	 o;
	struct district	*district;
	char		*first;
	char		*middle;	/* NULL: null */
	char		*last;
	char		*email;		/* NULL: omitted */
	char		*created;
	char		*last_modified;
	char		*school;
	char		*sis_id;
	char		*state_id;
	char		*number;	/* teacher_number / student_number */
	char		*username;
	char		*legacy_id;
	char		*title;		/* teacher; NULL: omitted */
	char		*grade;		/* student; NULL: omitted */
	char		*dob;		/* student; NULL: omitted */
	char		*gender;
	char		*race;
	char		*hispanic;
	char		*zip;
	char		*gifted;
	struct ptrv	 sections;	/* sorted by id */
	/* teachers only */
	char		*token;
	int		 revoked;
	int		 auth_district;	/* set_authorization */
	struct bucket	 bucket;
	uint64_t	 requests;
	uint64_t	 limited;
	int		 deleted;	/* delete_user: students only */
};

struct section {
	struct obj	 o;
	struct district	*district;
	char		*name;
	char		*section_number;	/* NULL: omitted */
	char		*subject;
	char		*grade;			/* NULL: omitted */
	char		*period;		/* NULL: omitted */
	char		*school;
	char		*sis_id;
	char		*term_id;		/* NULL: omitted */
	char		*course;		/* NULL: null */
	char		*classroom;
	char		*created;
	char		*last_modified;
	struct ptrv	 teachers;		/* primary first */
	struct ptrv	 students;		/* sorted by id */
	int		 deleted;
};

struct world {
	struct arena	*arena;
	struct ptrv	 districts;
	struct ptrv	 users;		/* creation order */
	struct ptrv	 sections;
	struct map	 ids;		/* id -> struct obj */
	struct map	 tokens;	/* token -> district or teacher */
	unsigned	 gen;		/* bumped by every mutation */
	unsigned	 mutations;
	uint64_t	 idctr;
	uint32_t	 idmachine;
	uint32_t	 idtime;
	struct rng	 rng;		/* generator, continues for mutations */
	int64_t		 clock_off_s;	/* POST /clock: the sandbox's clock */
	int64_t		 evlast_s;	/* time part of the last event id */
	uint32_t	 evctr;		/* counter part of event ids */
};

/*
 * A Clever event (GET /events): rendered once when the mutation happens,
 * since data.object is the record as it was then.  Ids grow with time.
 */
struct sbx_event {
	struct obj	 o;		/* o.id: the event id */
	int64_t		 created_s;	/* on the sandbox's clock */
	char		*json;		/* {"created",..,"type"}, in the arena */
	size_t		 len;
};

#define EVENT_WINDOW_S	(30 * 86400)	/* Clever keeps events 30 days */

struct gen_opts {
	int		 teachers;
	int		 districts;
	uint64_t	 seed;
	const char	*datafile;
};

struct world	*world_create(const struct gen_opts *, char **errp);
void		 world_free(struct world *);
struct obj	*world_get(struct world *, const char *);
struct user	*world_user(struct world *, const char *);
struct section	*world_section(struct world *, const char *);
struct obj	*world_token(struct world *, const char *);
void		 world_touch(struct world *, char **last_modified);
const char	*world_newid(struct world *, enum obj_type, char *);
struct user	*world_new_student(struct world *, struct section *,
		    const char *, const char *);
struct section	*world_new_section(struct world *, struct user *);
void		 world_enroll(struct world *, struct section *, struct user *);
int		 world_unenroll(struct world *, struct section *, struct user *);
void		 world_add_teacher(struct world *, struct section *,
		    struct user *);
void		 world_delete_section(struct world *, struct section *);
void		 world_delete_user(struct world *, struct user *);
void		 world_sort_district(struct world *, struct district *);
int		 section_has_teacher(const struct section *,
		    const struct user *);

/* ---- events (sbx_events.c) ---- */

int64_t		 world_now(const struct world *);
void		 event_record(struct world *, struct district *,
		    const char *, struct obj *, const struct sbuf *);
void		 events_expire(struct world *, struct district *);
struct sbx_event *event_find(const struct district *, const char *);
void		 prev_open(struct sbuf *, const char *const *);
void		 prev_str(struct sbuf *, const char *, const char *);
void		 prev_ids(struct sbuf *, const char *, const struct ptrv *);
void		 prev_close(struct sbuf *, const char *const *);

/* ---- rendering (sbx_render.c) ---- */

void	 render_obj(struct world *, struct obj *, enum view, struct sbuf *);

/* ---- faults (sbx_fault.c) ---- */

enum fault_kind {
	FAULT_NONE = -1,
	FAULT_500 = 0,
	FAULT_502,
	FAULT_503,
	FAULT_429,
	FAULT_HTML404,
	FAULT_MALFORMED,
	FAULT_TRUNCATED,
	FAULT_RESET,
	FAULT_STALL,
	FAULT_MAX
};

struct faults {
	double		 rate[FAULT_MAX];
	uint64_t	 seed;
	struct rng	 rng;
	unsigned	 latency_ms;
};

extern const char *const fault_names[FAULT_MAX];

int	 fault_kind_parse(const char *);
void	 fault_reseed(struct faults *, uint64_t);
enum fault_kind fault_draw(struct faults *);

/* ---- hostile responses (sbx_hostile.c) ---- */

enum hostile_kind {
	HOSTILE_NONE = 0,
	HOSTILE_HUGE,
	HOSTILE_DRIBBLE,
	HOSTILE_DEEP,
	HOSTILE_BADUTF8,
	HOSTILE_MAX
};

#define HOSTILE_RULES_MAX	256

struct hostile_rule {
	char			 token[128];
	char			 route[64];	/* a route name, or "*" */
	enum hostile_kind	 kind;
	uint64_t		 bytes;		/* huge */
	unsigned		 interval_ms;	/* dribble */
};

struct hostile_conn;
TAILQ_HEAD(hostile_conns, hostile_conn);

extern const char *const hostile_names[HOSTILE_MAX];

struct sbx;
int	 hostile_kind_parse(const char *);
int	 hostile_set(struct sbx *, const char *, const char *,
	    enum hostile_kind, uint64_t, unsigned);
const struct hostile_rule *hostile_match(struct sbx *, const char *,
	    const char *);
int	 hostile_apply(struct sbx *, struct evhttp_request *,
	    const struct hostile_rule *, struct sbuf *);
size_t	 hostile_active(struct sbx *);
void	 hostile_flush(struct sbx *);

/* A response waiting for its latency timer, or stalled forever. */
struct reply {
	struct sbx		*sbx;
	struct evhttp_request	*req;
	struct event		*ev;
	int			 code;
	enum fault_kind		 fault;
	char			*body;
	size_t			 len;
	TAILQ_ENTRY(reply)	 entry;
};
TAILQ_HEAD(replies, reply);

/* ---- the process (sbx_main.c) ---- */

enum route {
	ROUTE_ME = 0,
	ROUTE_USERS,
	ROUTE_USER,
	ROUTE_USER_SECTIONS,
	ROUTE_USER_MYSTUDENTS,
	ROUTE_SECTIONS,
	ROUTE_SECTION,
	ROUTE_SECTION_USERS,
	ROUTE_EVENTS,
	ROUTE_EVENT,
	ROUTE_UNKNOWN,
	ROUTE_MAX
};

extern const char *const route_names[ROUTE_MAX];

struct stats {
	uint64_t	 route[ROUTE_MAX];
	uint64_t	 requests;
	uint64_t	 unauthorized;
	uint64_t	 limited;
	uint64_t	 fault[FAULT_MAX];
	uint64_t	 hostile[HOSTILE_MAX];
	uint64_t	 connections;
	uint64_t	 not_modified;	/* 304s sent */
	uint64_t	 body_bytes;	/* API response bodies sent */
};

/* How the API treats entity tags (Express's by default). */
enum etag_mode {
	ETAG_ON = 0,		/* weak ETag on every 200; If-None-Match -> 304 */
	ETAG_OFF,		/* no ETag, If-None-Match ignored */
	ETAG_IGNORE,		/* ETag sent, If-None-Match ignored */
	ETAG_MAX
};
extern const char *const etag_mode_names[ETAG_MAX];
int	 etag_mode_parse(const char *);

struct sbx {
	struct event_base	*base;
	struct evhttp		*api;
	struct evhttp		*ctl;
	struct ssl_ctx_st	*ssl;
	struct gen_opts		 gen;
	struct world		*world;

	uint32_t		 rate_limit;
	uint32_t		 rate_window_s;
	int			 rate_wall;
	int			 two_buckets;
	uint32_t		 app_limit;
	struct bucket		 app_bucket;

	struct faults		 faults;
	uint64_t		 fault_seed0;
	double			 rate0[FAULT_MAX];
	unsigned		 latency0;
	enum etag_mode		 etag, etag0;

	struct stats		 stats;
	struct replies		 pending;
	struct hostile_rule	 hostile[HOSTILE_RULES_MAX];
	size_t			 nhostile;
	struct hostile_conns	 hostile_conns;
	uint64_t		 reqctr;
};

/* sbx_api.c */
void	 api_request(struct evhttp_request *, void *);
void	 api_deliver(struct sbx *, struct evhttp_request *, int,
	    struct sbuf *, enum fault_kind);
void	 api_flush_pending(struct sbx *);

/* sbx_control.c */
void	 control_request(struct evhttp_request *, void *);
void	 sbx_reset(struct sbx *);

#endif
