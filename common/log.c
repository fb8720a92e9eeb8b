/*
 * Logging facade.  One function, logf_v(), does the work: format, scrub
 * secrets, then emit to journald (with structured fields) or to stderr as a
 * single logfmt-like line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_MSG_MAX	4096

static const char	*log_progname = "rosterd";
static enum log_level	 log_level = LOG_LVL_INFO;
static enum log_target	 log_target = LOG_TARGET_STDERR;
static FILE		*log_stream;

static const char *const level_names[] = {
	[LOG_LVL_ERR] = "error",
	[LOG_LVL_WARN] = "warning",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

static const int level_syslog[] = {
	[LOG_LVL_ERR] = LOG_ERR,
	[LOG_LVL_WARN] = LOG_WARNING,
	[LOG_LVL_INFO] = LOG_INFO,
	[LOG_LVL_DEBUG] = LOG_DEBUG,
};

void
log_init(const char *progname, enum log_level level, enum log_target target)
{
	log_progname = progname;
	log_level = level;
	log_target = log_resolve_target(target);
}

void
log_setlevel(enum log_level level)
{
	log_level = level;
}

enum log_level
log_getlevel(void)
{
	return log_level;
}

enum log_target
log_gettarget(void)
{
	return log_target;
}

void
log_setstream(FILE *fp)
{
	log_stream = fp;
}

/*
 * systemd sets JOURNAL_STREAM=dev:ino for a stderr connected to the journal;
 * only trust it when it really is our stderr (a child may inherit the
 * variable with stderr redirected elsewhere).
 */
enum log_target
log_resolve_target(enum log_target target)
{
	const char *env;
	unsigned long long dev, ino;
	struct stat st;

	if (target != LOG_TARGET_AUTO)
		return target;
	if ((env = getenv("JOURNAL_STREAM")) == NULL ||
	    sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return LOG_TARGET_STDERR;
	if (fstat(STDERR_FILENO, &st) == -1)
		return LOG_TARGET_STDERR;
	if ((unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		return LOG_TARGET_JOURNAL;
	return LOG_TARGET_STDERR;
}

enum log_level
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (enum log_level)i;
	if (strcasecmp(s, "warn") == 0)
		return LOG_LVL_WARN;
	if (strcasecmp(s, "err") == 0)
		return LOG_LVL_ERR;
	return (enum log_level)-1;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_LVL_DEBUG)
		return "unknown";
	return level_names[level];
}

const char *
log_redact(const char *secret, char *buf, size_t len)
{
	snprintf(buf, len, "[redacted, %zu bytes]",
	    secret == NULL ? (size_t)0 : strlen(secret));
	return buf;
}

/* Length of the secret that starts at p: up to whitespace, quote or comma. */
static size_t
secret_span(const char *p)
{
	size_t n = 0;

	while (p[n] != '\0' && !isspace((unsigned char)p[n]) &&
	    p[n] != '"' && p[n] != '\'' && p[n] != ',' && p[n] != '&' &&
	    p[n] != ';')
		n++;
	return n;
}

/* Replace the n bytes at p with "[redacted]" inside a buffer of size. */
static void
replace_secret(char *msg, size_t size, char *p, size_t n)
{
	static const char mark[] = "[redacted]";
	size_t marklen = sizeof(mark) - 1, tail = strlen(p + n);

	if (n == 0 || (n == marklen && memcmp(p, mark, marklen) == 0))
		return;
	if ((size_t)(p - msg) + marklen + tail + 1 > size)
		tail = size - (size_t)(p - msg) - marklen - 1;
	memmove(p + marklen, p + n, tail);
	p[marklen + tail] = '\0';
	memcpy(p, mark, marklen);
}

void
log_scrub(char *msg, size_t size)
{
	static const char *const keys[] = {
		"bearer ", "token=", "token\":\"", "access_token=",
		"password=", "authorization: ",
	};
	size_t i, klen;
	char *p;

	if (size < 16)
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		klen = strlen(keys[i]);
		for (p = strcasestr(msg, keys[i]); p != NULL;
		    p = strcasestr(p, keys[i])) {
			p += klen;
			/* "Authorization: Bearer x": the bearer rule does it */
			if (strncasecmp(p, "bearer ", 7) == 0)
				continue;
			replace_secret(msg, size, p, secret_span(p));
		}
	}
}

static void
emit_journal(enum log_level level, const struct log_fields *lf,
    const char *msg)
{
	sd_journal_send("MESSAGE=%s", msg,
	    "PRIORITY=%d", level_syslog[level],
	    "SYSLOG_IDENTIFIER=%s", log_progname,
	    "ROSTERD_EVENT=%s", lf && lf->event ? lf->event : "",
	    "ROSTERD_JOB=%s", lf && lf->job ? lf->job : "",
	    "ROSTERD_TEACHER=%s", lf && lf->teacher ? lf->teacher : "",
	    NULL);
}

/* Quote a logfmt value when it has spaces, quotes or '='. */
static void
put_value(FILE *fp, const char *v)
{
	const char *p;

	if (*v != '\0' && strpbrk(v, " \t\"=\\\n") == NULL) {
		fputs(v, fp);
		return;
	}
	fputc('"', fp);
	for (p = v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', fp);
		if (*p == '\n')
			fputs("\\n", fp);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

/*
 * One line, built in memory and written with one write(2): stderr is
 * unbuffered, and lines of concurrent writers must not interleave.
 */
static void
emit_stderr(enum log_level level, const struct log_fields *lf,
    const char *msg)
{
	char line[LOG_MSG_MAX + 512], tbuf[32];
	FILE *out = log_stream != NULL ? log_stream : stderr;
	FILE *fp = fmemopen(line, sizeof(line), "w");
	struct timespec ts;
	struct tm tm;
	long len;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (fp == NULL)
		return;
	fprintf(fp, "%s.%03ldZ %s level=%s", tbuf, ts.tv_nsec / 1000000,
	    log_progname, level_names[level]);
	if (lf != NULL && lf->event != NULL)
		fprintf(fp, " event=%s", lf->event);
	if (lf != NULL && lf->job != NULL) {
		fputs(" job=", fp);
		put_value(fp, lf->job);
	}
	if (lf != NULL && lf->teacher != NULL) {
		fputs(" teacher=", fp);
		put_value(fp, lf->teacher);
	}
	fputs(" msg=", fp);
	put_value(fp, msg);
	fputc('\n', fp);
	len = ftell(fp);
	fclose(fp);
	if (len <= 0 || (size_t)len >= sizeof(line)) {
		/* cut: keep the line a line */
		len = sizeof(line) - 1;
		line[len - 1] = '\n';
	}
	fwrite(line, 1, (size_t)len, out);
	fflush(out);
}

/* The job being worked on, for lines that do not name one (copies). */
static char log_ctx_job[72], log_ctx_teacher[72];
static struct log_fields log_ctx;

void
log_setcontext(const char *job, const char *teacher)
{
	snprintf(log_ctx_job, sizeof(log_ctx_job), "%s", job ? job : "");
	snprintf(log_ctx_teacher, sizeof(log_ctx_teacher), "%s",
	    teacher ? teacher : "");
	log_ctx.job = job != NULL ? log_ctx_job : NULL;
	log_ctx.teacher = teacher != NULL ? log_ctx_teacher : NULL;
}

void
logf_v(enum log_level level, const struct log_fields *lf, const char *fmt,
    va_list ap)
{
	char msg[LOG_MSG_MAX];
	struct log_fields f;

	if (level > log_level)
		return;
	if (log_ctx.job != NULL && (lf == NULL || lf->job == NULL)) {
		f.event = lf != NULL ? lf->event : NULL;
		f.job = log_ctx.job;
		f.teacher = lf != NULL && lf->teacher != NULL ? lf->teacher :
		    log_ctx.teacher;
		lf = &f;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_scrub(msg, sizeof(msg));
	if (log_target == LOG_TARGET_JOURNAL)
		emit_journal(level, lf, msg);
	else
		emit_stderr(level, lf, msg);
}

static void
logf_level(enum log_level level, const struct log_fields *lf,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logf_v(level, lf, fmt, ap);
	va_end(ap);
}

#define LOGF_DEFINE(name, level)					\
void									\
name(const struct log_fields *lf, const char *fmt, ...)		\
{									\
	va_list ap;							\
									\
	va_start(ap, fmt);						\
	logf_v(level, lf, fmt, ap);					\
	va_end(ap);							\
}
LOGF_DEFINE(logf_err, LOG_LVL_ERR)
LOGF_DEFINE(logf_warn, LOG_LVL_WARN)
LOGF_DEFINE(logf_info, LOG_LVL_INFO)
LOGF_DEFINE(logf_debug, LOG_LVL_DEBUG)

#define LOG_DEFINE(name, level)						\
void									\
name(const char *fmt, ...)						\
{									\
	va_list ap;							\
									\
	va_start(ap, fmt);						\
	logf_v(level, NULL, fmt, ap);					\
	va_end(ap);							\
}
LOG_DEFINE(log_warnx, LOG_LVL_WARN)
LOG_DEFINE(log_info, LOG_LVL_INFO)
LOG_DEFINE(log_debug, LOG_LVL_DEBUG)

/* Append ": strerror(errno)" to a message (log_warn, fatal). */
static void
log_errno(enum log_level level, int saved, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	logf_level(level, NULL, "%s: %s", msg, strerror(saved));
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LVL_WARN, saved, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_LVL_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logf_v(LOG_LVL_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
