/*
 * rosterctl offline commands on files, no Redis:
 *	rosterctl diff [-s] OLD NEW	the diff of two snapshots (JSON, or
 *					with -s a one-line summary)
 *	rosterctl apply BASE DIFF	the snapshot after applying a diff
 * "-" reads standard input; an empty BASE (e.g. /dev/null) is the empty
 * roster, so a teacher's diffs can be replayed from nothing.  Formats:
 * doc/roster-format.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "roster.h"
#include "xmalloc.h"

/* Larger files are not rosters. */
#define CTL_FILE_MAX	(256 * 1024 * 1024)

#define CTL_TO_STRING	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static void
ctl_err(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ctl_err(const char *cmd, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "rosterctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The whole of a file ("-" = stdin), NUL-terminated; NULL on error. */
static char *
read_file(const char *cmd, const char *path, size_t *lenp)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0, n;
	int	 failed;

	fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (fp == NULL) {
		ctl_err(cmd, "%s: %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (cap - len < 65536) {
			cap = cap == 0 ? 65536 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
	} while (n > 0 && len <= CTL_FILE_MAX);
	failed = ferror(fp);
	if (fp != stdin)
		fclose(fp);
	if (failed || len > CTL_FILE_MAX) {
		ctl_err(cmd, "%s: %s", path, failed ? "read error" :
		    "file too large");
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

static struct roster *
read_snapshot(const char *cmd, const char *path)
{
	struct roster	*r;
	char		*buf, err[512];
	size_t		 len;

	if ((buf = read_file(cmd, path, &len)) == NULL)
		return NULL;
	/* an empty file is the empty roster: nothing synced yet */
	if (len == 0) {
		free(buf);
		return roster_new(ROSTER_FIELDS_LIBRARY);
	}
	r = roster_from_snapshot(buf, len, err, sizeof(err));
	if (r == NULL)
		ctl_err(cmd, "%s: %s", path, err);
	free(buf);
	return r;
}

static json_object *
read_json(const char *cmd, const char *path)
{
	enum json_tokener_error	 jerr;
	json_object		*o;
	char			*buf;
	size_t			 len;

	if ((buf = read_file(cmd, path, &len)) == NULL)
		return NULL;
	o = json_tokener_parse_verbose(buf, &jerr);
	if (o == NULL) {
		ctl_err(cmd, "%s: not JSON: %s", path,
		    jerr == json_tokener_success ? "null" :
		    json_tokener_error_desc(jerr));
	}
	free(buf);
	return o;
}

/* "sections +1 ~2 -0, students ..." */
static void
print_summary(FILE *fp, json_object *diff)
{
	struct roster_diff_counts	n;

	roster_diff_count(diff, &n);
	if (roster_diff_is_empty(diff)) {
		fprintf(fp, "no changes\n");
		return;
	}
	fprintf(fp, "%u added, %u updated, %u removed: teacher %s; "
	    "sections +%u ~%u -%u; students +%u ~%u -%u; enrollments +%u -%u\n",
	    n.added, n.updated, n.removed,
	    n.teacher_updated ? "updated" : "unchanged",
	    n.sections_added, n.sections_updated, n.sections_removed,
	    n.students_added, n.students_updated, n.students_removed,
	    n.enrollments_added, n.enrollments_removed);
}

/* Options of a subcommand: only -s for diff. */
static int
parse_opts(int argc, char **argv, const char *opts, int *summary)
{
	int	ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt(argc, argv, opts)) != -1) {
		if (ch != 's') {
			ctl_err(argv[0], "unknown option -%c", optopt);
			return -1;
		}
		*summary = 1;
	}
	return optind;
}

int
ctl_diff(int argc, char **argv)
{
	struct roster	*old = NULL, *new_ = NULL;
	json_object	*diff;
	int		 summary = 0, first, rv = 1;

	if ((first = parse_opts(argc, argv, "+s", &summary)) == -1)
		return CTL_USAGE;
	if (argc - first != 2) {
		fprintf(stderr, "usage: rosterctl diff [-s] OLD NEW\n");
		return CTL_USAGE;
	}
	if ((old = read_snapshot(argv[0], argv[first])) == NULL ||
	    (new_ = read_snapshot(argv[0], argv[first + 1])) == NULL)
		goto out;
	diff = roster_diff(old, new_);
	if (summary)
		print_summary(stdout, diff);
	else
		printf("%s\n", json_object_to_json_string_ext(diff,
		    CTL_TO_STRING));
	json_object_put(diff);
	rv = fflush(stdout) == 0 ? 0 : 1;
out:
	roster_free(old);
	roster_free(new_);
	return rv;
}

int
ctl_apply(int argc, char **argv)
{
	struct roster	*base;
	json_object	*diff;
	char		*snap, err[512];
	int		 summary = 0, first, rv = 1;

	if ((first = parse_opts(argc, argv, "+", &summary)) == -1)
		return CTL_USAGE;
	if (argc - first != 2) {
		fprintf(stderr, "usage: rosterctl apply BASE DIFF\n");
		return CTL_USAGE;
	}
	if ((base = read_snapshot(argv[0], argv[first])) == NULL)
		return 1;
	if ((diff = read_json(argv[0], argv[first + 1])) == NULL)
		goto out;
	if (roster_apply(base, diff, err, sizeof(err)) == -1)
		ctl_err(argv[0], "%s: %s", argv[first + 1], err);
	else {
		snap = roster_snapshot(base, NULL);
		printf("%s\n", snap);
		free(snap);
		rv = fflush(stdout) == 0 ? 0 : 1;
	}
	json_object_put(diff);
out:
	roster_free(base);
	return rv;
}
