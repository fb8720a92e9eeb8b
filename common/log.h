/*
 * Logging facade (OpenBSD style: log_warn appends strerror(errno), log_warnx
 * does not, fatal/fatalx exit).  Every line may carry structured fields: an
 * event name, a job id and a teacher id.  Output goes to journald natively
 * (fields as ROSTERD_EVENT=, ROSTERD_JOB=, ROSTERD_TEACHER=) or to stderr as
 * one logfmt-like line.  Bearer tokens are scrubbed from every message.
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

/* Structured fields; any may be NULL. */
struct log_fields {
	const char	*event;
	const char	*job;
	const char	*teacher;
};

/* Build a struct log_fields in place: LF(.event = "x", .job = id). */
#define LF(...)	(&(const struct log_fields){ __VA_ARGS__ })

void	log_init(const char *progname, enum log_level, enum log_target);
void	log_setlevel(enum log_level);
enum log_level log_getlevel(void);
/* The target actually in use after resolving AUTO. */
enum log_target log_gettarget(void);
/* Decide AUTO: journald iff $JOURNAL_STREAM names our stderr (dev:ino). */
enum log_target log_resolve_target(enum log_target);
/* Redirect stderr output (tests). NULL restores stderr. */
void	log_setstream(FILE *);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* Structured variants: lf carries event/job/teacher. */
void	logf_err(const struct log_fields *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	logf_warn(const struct log_fields *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	logf_info(const struct log_fields *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	logf_debug(const struct log_fields *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	logf_v(enum log_level, const struct log_fields *, const char *,
	    va_list) __attribute__((format(printf, 3, 0)));

/*
 * While work of one job runs synchronously (e.g. its roster is parsed),
 * lines that name no job carry these fields (copied); (NULL, NULL) ends
 * that.
 */
void	log_setcontext(const char *job, const char *teacher);

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
