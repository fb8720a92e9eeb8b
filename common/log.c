/*
 * Logging facade.  One function, log_vemit(), does the work: format, scrub
 * secrets, then emit to journald (with structured fields) or to stderr as a
 * single logfmt-like line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* we send the caller's CODE_FILE/LINE/FUNC, not this file's */
#define SD_JOURNAL_SUPPRESS_LOCATION
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

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

static void	emit_stderr(enum log_level, const struct log_src *,
		    const struct log_fields *, const char *);

/* Whether journald listens; errno-style error, or 0. */
static int
journal_probe(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, err = 0;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", JOURNAL_SOCKET);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err = errno;
	close(fd);
	return err;
}

/* journald is not there: say so on stderr, and log there from now on. */
static void
journal_fallback(int err)
{
	char msg[256];

	log_target = LOG_TARGET_STDERR;
	snprintf(msg, sizeof(msg), "logging to stderr: journald is not "
	    "reachable at " JOURNAL_SOCKET " (%s)", strerror(err));
	emit_stderr(LOG_LVL_WARN, NULL, &(const struct log_fields){
	    .event = "journal_unavailable" }, msg);
}

void
log_init(const char *progname, enum log_level level, enum log_target target)
{
	int err;

	log_progname = progname;
	log_level = level;
	log_target = log_resolve_target(target);
	if (log_target == LOG_TARGET_JOURNAL && (err = journal_probe()) != 0)
		journal_fallback(err);
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

/* A source path as the project names it: without the build's "../". */
static const char *
src_file(const char *f)
{
	while (strncmp(f, "../", 3) == 0)
		f += 3;
	return f;
}

/*
 * The structured fields, in one order for both outputs: fn(name, value,
 * arg) for each one set, name in lower case.  Numbers are formatted into
 * a buffer of ours: fn copies what it keeps.
 */
typedef void	(*field_fn)(const char *name, const char *value, void *arg);

static void
field_str(field_fn fn, void *arg, const char *name, const char *value)
{
	if (value != NULL && *value != '\0')
		fn(name, value, arg);
}

static void
field_num(field_fn fn, void *arg, const char *name, unsigned long long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", v);
	fn(name, num, arg);
}

static void
each_field(const struct log_fields *lf, field_fn fn, void *arg)
{
	field_str(fn, arg, "event", lf->event);
	field_str(fn, arg, "job", lf->job);
	field_str(fn, arg, "teacher", lf->teacher);
	field_str(fn, arg, "ref", lf->ref);
	field_str(fn, arg, "error", lf->error);
	field_str(fn, arg, "result", lf->result);
	field_str(fn, arg, "trigger", lf->trigger);
	if (lf->counts) {
		field_num(fn, arg, "added", lf->added);
		field_num(fn, arg, "updated", lf->updated);
		field_num(fn, arg, "removed", lf->removed);
	}
	if (lf->attempt > 0)
		field_num(fn, arg, "attempt", (unsigned)lf->attempt);
	field_str(fn, arg, "endpoint", lf->endpoint);
	if (lf->http_status > 0)
		field_num(fn, arg, "http_status", (unsigned)lf->http_status);
	if (lf->requests > 0)
		field_num(fn, arg, "requests", lf->requests);
	if (lf->timed)
		field_num(fn, arg, "duration_ms", lf->duration_ms);
	if (lf->waited)
		field_num(fn, arg, "queue_wait_ms", lf->queue_wait_ms);
	field_str(fn, arg, "diff_id", lf->diff_id);
	field_str(fn, arg, "consumer", lf->consumer);
	field_str(fn, arg, "trace_id", lf->trace_id);
}

#define JOURNAL_FIELDS_MAX	32

struct journal_msg {
	struct iovec	 iov[JOURNAL_FIELDS_MAX];
	char		*bufs[JOURNAL_FIELDS_MAX];
	int		 n;
};

/* One journal field, when it has a value; the strings are kept in bufs. */
static void
add_field(struct journal_msg *m, const char *name, const char *value)
{
	if (value == NULL || m->n >= JOURNAL_FIELDS_MAX)
		return;
	if (asprintf(&m->bufs[m->n], "%s=%s", name, value) == -1) {
		m->bufs[m->n] = NULL;
		return;
	}
	m->iov[m->n].iov_base = m->bufs[m->n];
	m->iov[m->n].iov_len = strlen(m->bufs[m->n]);
	m->n++;
}

/* A structured field in the journal: ROSTERD_ and its name in capitals. */
static void
add_rosterd_field(const char *name, const char *value, void *arg)
{
	char key[48];
	size_t i;

	i = (size_t)snprintf(key, sizeof(key), "ROSTERD_");
	for (; *name != '\0' && i < sizeof(key) - 1; name++)
		key[i++] = (char)toupper((unsigned char)*name);
	key[i] = '\0';
	add_field(arg, key, value);
}

static int
emit_journal(enum log_level level, const struct log_src *src,
    const struct log_fields *lf, const char *msg)
{
	struct journal_msg m = { .n = 0 };
	char prio[4], line[16];
	int i, rv;

	snprintf(prio, sizeof(prio), "%d", level_syslog[level]);
	add_field(&m, "MESSAGE", msg);
	add_field(&m, "PRIORITY", prio);
	add_field(&m, "SYSLOG_IDENTIFIER", log_progname);
	if (src != NULL) {
		snprintf(line, sizeof(line), "%d", src->line);
		add_field(&m, "CODE_FILE", src_file(src->file));
		add_field(&m, "CODE_LINE", line);
		add_field(&m, "CODE_FUNC", src->func);
	}
	if (lf != NULL)
		each_field(lf, add_rosterd_field, &m);
	rv = sd_journal_sendv(m.iov, m.n);
	for (i = 0; i < m.n; i++)
		free(m.bufs[i]);
	return rv;
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

/* " name=value" on a logfmt line. */
static void
put_field(const char *name, const char *value, void *arg)
{
	FILE *fp = arg;

	fprintf(fp, " %s=", name);
	put_value(fp, value);
}

/*
 * One line, built in memory and written with one write(2): stderr is
 * unbuffered, and lines of concurrent writers must not interleave.
 */
static void
emit_stderr(enum log_level level, const struct log_src *src,
    const struct log_fields *lf, const char *msg)
{
	char line[LOG_MSG_MAX + 1024], tbuf[32];
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
	if (lf != NULL)
		each_field(lf, put_field, fp);
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
static char log_ctx_job[72], log_ctx_teacher[72], log_ctx_trace[40];
static struct log_fields log_ctx;

void
log_setcontext(const char *job, const char *teacher, const char *trace_id)
{
	snprintf(log_ctx_job, sizeof(log_ctx_job), "%s", job ? job : "");
	snprintf(log_ctx_teacher, sizeof(log_ctx_teacher), "%s",
	    teacher ? teacher : "");
	snprintf(log_ctx_trace, sizeof(log_ctx_trace), "%s",
	    trace_id ? trace_id : "");
	log_ctx.job = job != NULL ? log_ctx_job : NULL;
	log_ctx.teacher = teacher != NULL ? log_ctx_teacher : NULL;
	log_ctx.trace_id = log_ctx_trace;
}

void
log_vemit(enum log_level level, const struct log_src *src,
    const struct log_fields *lf, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	struct log_fields f;
	int err;

	if (level > log_level)
		return;
	if (log_ctx.job != NULL && (lf == NULL || lf->job == NULL)) {
		/* all the caller's fields, and the job being worked on */
		if (lf != NULL)
			f = *lf;
		else
			memset(&f, 0, sizeof(f));
		f.job = log_ctx.job;
		if (f.teacher == NULL)
			f.teacher = log_ctx.teacher;
		if (f.trace_id == NULL)
			f.trace_id = log_ctx.trace_id;
		lf = &f;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_scrub(msg, sizeof(msg));
	if (log_target == LOG_TARGET_JOURNAL) {
		if ((err = emit_journal(level, src, lf, msg)) >= 0)
			return;
		journal_fallback(-err);
	}
	emit_stderr(level, src, lf, msg);
}

void
log_emit(enum log_level level, const struct log_src *src,
    const struct log_fields *lf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, src, lf, fmt, ap);
	va_end(ap);
}

/* The message, then ": strerror(errno)" (log_warn, fatal). */
static void
log_verrno(enum log_level level, const struct log_src *src, int saved,
    const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(level, src, NULL, "%s: %s", msg, strerror(saved));
}

void
log_emit_errno(enum log_level level, const struct log_src *src,
    const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_verrno(level, src, saved, fmt, ap);
	va_end(ap);
}

void
log_fatal(const struct log_src *src, int status, int with_errno,
    const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	if (with_errno)
		log_verrno(LOG_LVL_ERR, src, saved, fmt, ap);
	else
		log_vemit(LOG_LVL_ERR, src, NULL, fmt, ap);
	va_end(ap);
	exit(status);
}
