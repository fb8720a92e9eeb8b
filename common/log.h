/*
 * Logging facade (OpenBSD style: log_warn appends strerror(errno), log_warnx
 * does not, fatal/fatalx exit).  Every line may carry structured fields (an
 * event name, a job, a teacher, ...).  Output goes to journald natively
 * (ROSTERD_* fields, CODE_FILE/CODE_LINE/CODE_FUNC of the caller) or to
 * stderr as one logfmt-like line.  Bearer tokens are scrubbed from every
 * message.
 */
#ifndef ROSTERD_LOG_H
#define ROSTERD_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_target {
	LOG_TARGET_AUTO = 0,	/* journald when stderr is the journal */
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL,
};

/*
 * Structured fields; a NULL or "" string, a zero number (or, for the
 * counts and the times, their flag 0) is left out.  In the journal:
 * ROSTERD_EVENT, ROSTERD_JOB, ROSTERD_TEACHER, ROSTERD_REF, ROSTERD_ERROR,
 * ROSTERD_RESULT, ROSTERD_TRIGGER, ROSTERD_ADDED/_UPDATED/_REMOVED,
 * ROSTERD_ATTEMPT, ROSTERD_ENDPOINT, ROSTERD_HTTP_STATUS, ROSTERD_REQUESTS,
 * ROSTERD_DURATION_MS, ROSTERD_QUEUE_WAIT_MS, ROSTERD_DIFF_ID,
 * ROSTERD_CONSUMER, ROSTERD_TRACE_ID; on stderr the same in lower case
 * without the prefix (doc/rosterd.8, JOURNAL).
 */
struct log_fields {
	const char	*event;
	const char	*job;
	const char	*teacher;
	const char	*ref;		/* the app's reference of the job */
	const char	*error;		/* a job's error code */
	const char	*result;	/* a job's outcome */
	const char	*trigger;	/* what made the job, if not the app */
	int		 counts;	/* added/updated/removed are set */
	unsigned	 added, updated, removed;
	int		 attempt;	/* the job's attempt, from 1 */
	const char	*endpoint;	/* a Clever request: me, sections... */
	int		 http_status;	/* Clever's answer */
	unsigned	 requests;	/* Clever requests of a sync */
	int		 timed;		/* duration_ms is set */
	unsigned long long duration_ms;
	int		 waited;	/* queue_wait_ms is set */
	unsigned long long queue_wait_ms;	/* request to start */
	const char	*diff_id;	/* the diff entry written */
	const char	*consumer;	/* this instance in the group */
	const char	*trace_id;	/* the W3C trace-id of the job's app */
};

/* Build a struct log_fields in place: LF(.event = "x", .job = id). */
#define LF(...)	(&(const struct log_fields){ __VA_ARGS__ })

/* Where a message comes from: CODE_FILE, CODE_LINE, CODE_FUNC. */
struct log_src {
	const char	*file;
	int		 line;
	const char	*func;
};
#define LOG_SRC	(&(const struct log_src){ __FILE__, __LINE__, __func__ })

void	log_init(const char *progname, enum log_level, enum log_target);
void	log_setlevel(enum log_level);
enum log_level log_getlevel(void);
/* The target actually in use after resolving AUTO (and the fallback). */
enum log_target log_gettarget(void);
/* Decide AUTO: journald iff $JOURNAL_STREAM names our stderr (dev:ino). */
enum log_target log_resolve_target(enum log_target);
/* Redirect stderr output (tests). NULL restores stderr. */
void	log_setstream(FILE *);

void	log_emit(enum log_level, const struct log_src *,
	    const struct log_fields *, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
void	log_vemit(enum log_level, const struct log_src *,
	    const struct log_fields *, const char *, va_list)
	    __attribute__((format(printf, 4, 0)));
/* The message, then ": strerror(errno)". */
void	log_emit_errno(enum log_level, const struct log_src *, const char *,
	    ...) __attribute__((format(printf, 3, 4)));
/* Log at error level and exit with status. */
void	log_fatal(const struct log_src *, int status, int with_errno,
	    const char *, ...) __attribute__((format(printf, 4, 5), noreturn));

/*
 * The OpenBSD idiom (log_warn appends strerror(errno), log_warnx does not,
 * fatal/fatalx exit), as macros so that the journal names the caller.
 */
#define log_warn(...)	log_emit_errno(LOG_LVL_WARN, LOG_SRC, __VA_ARGS__)
#define log_warnx(...)	log_emit(LOG_LVL_WARN, LOG_SRC, NULL, __VA_ARGS__)
#define log_info(...)	log_emit(LOG_LVL_INFO, LOG_SRC, NULL, __VA_ARGS__)
#define log_debug(...)	log_emit(LOG_LVL_DEBUG, LOG_SRC, NULL, __VA_ARGS__)
#define fatal(...)	log_fatal(LOG_SRC, 1, 1, __VA_ARGS__)
#define fatalx(...)	log_fatal(LOG_SRC, 1, 0, __VA_ARGS__)
/* The same with an exit status of its own (rosterd's 78, EX_CONFIG). */
#define fatal_status(st, ...)	log_fatal(LOG_SRC, st, 1, __VA_ARGS__)
#define fatalx_status(st, ...)	log_fatal(LOG_SRC, st, 0, __VA_ARGS__)

/* Structured variants: lf carries the fields above. */
#define logf_err(lf, ...)	log_emit(LOG_LVL_ERR, LOG_SRC, lf, __VA_ARGS__)
#define logf_warn(lf, ...)	log_emit(LOG_LVL_WARN, LOG_SRC, lf, __VA_ARGS__)
#define logf_info(lf, ...)	log_emit(LOG_LVL_INFO, LOG_SRC, lf, __VA_ARGS__)
#define logf_debug(lf, ...)	log_emit(LOG_LVL_DEBUG, LOG_SRC, lf, __VA_ARGS__)

/*
 * While work of one job runs synchronously (e.g. its roster is parsed),
 * lines that name no job carry these fields (copied; trace_id may be NULL);
 * (NULL, NULL, NULL) ends that.
 */
void	log_setcontext(const char *job, const char *teacher,
	    const char *trace_id);

/*
 * Describe a secret without revealing it: "[redacted, N bytes]".  buf must
 * hold at least LOG_REDACT_LEN bytes.  Use this whenever a token would
 * otherwise be formatted.
 */
#define LOG_REDACT_LEN	40
const char *log_redact(const char *secret, char *buf, size_t len);
/*
 * Scrub in place anything that looks like a credential ("Bearer xyz",
 * "token=xyz", "Authorization: ..."), replacing the secret with "[redacted]".
 * Applied to every log message as a last line of defence.
 */
void	log_scrub(char *msg, size_t size);

enum log_level log_level_parse(const char *);	/* -1 if unknown */
const char *log_level_name(enum log_level);

#endif
