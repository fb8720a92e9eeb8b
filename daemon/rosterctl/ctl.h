/*
 * rosterctl private header: each subcommand is int ctl_<name>(argc, argv)
 * and returns an exit status (CTL_OK, CTL_FAIL, CTL_USAGE; Redis and
 * configuration errors exit CTL_ERROR at once).
 */
#ifndef ROSTERD_CTL_H
#define ROSTERD_CTL_H

#include <stdarg.h>
#include <stdio.h>

#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "ctl_conn.h"
#include "keys.h"

#define CTL_OK		0	/* done */
#define CTL_FAIL	1	/* not found, refused, nothing done */
#define CTL_USAGE	2	/* bad command line or argument */
#define CTL_ERROR	3	/* Redis or configuration error */

/* The codes of the JSON errors (ctl_error), by exit status. */
#define CTL_E_NOT_FOUND	"not_found"	/* CTL_FAIL */
#define CTL_E_REFUSED	"refused"	/* CTL_FAIL */
#define CTL_E_USAGE	"usage"		/* CTL_USAGE */
#define CTL_E_REDIS	"redis"		/* CTL_ERROR */
#define CTL_E_CONFIG	"config"	/* CTL_ERROR */

/* rosterctl.c: the connection, keys, output mode. */
extern int	ctl_json;		/* --json */
redisReply	*ctl_cmd(const char *, ...);
redisReply	*ctl_cmd_try(const char *, ...);
redisReply	*ctl_cmd_argv(int, const char **);
char		*ctl_key(enum key, const char *id);	/* keys.h */
unsigned	 ctl_partitions(void);
char		*ctl_diffs_key(unsigned partition);
int		 ctl_usage(const char *cmd);
void		 ctl_fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
unsigned long long ctl_redis_now_ms(void);
const struct conf *ctl_conf(void);

/*
 * ctl_out.c: the one output layer.  Records for people or as JSON, typed
 * by their field table; every JSON object printed begins with "schema":
 * CTL_SCHEMA (doc/rosterctl.8, JSON OUTPUT); errors as ctl_error says.
 */
#define CTL_SCHEMA	1
enum ctl_type { CTL_STR, CTL_NUM };
struct ctl_field {
	const char	*name;
	enum ctl_type	 type;
};
extern const struct ctl_field ctl_job_fields[];		/* status, events */
extern const struct ctl_field ctl_dead_fields[];
extern const struct ctl_field ctl_diff_fields[];
extern const struct ctl_field ctl_instance_fields[];	/* heartbeats */
const char	*ctl_field(const redisReply *fields, const char *name);
void		 ctl_print_record(const char *title, const redisReply *fields,
		    const struct ctl_field *);
json_object	*ctl_object(void);			/* {"schema": 1} */
json_object	*ctl_result(const char *command);	/* + "command" */
json_object	*ctl_pairs_add(json_object *, const char **namevalue,
		    size_t npairs, const struct ctl_field *);
json_object	*ctl_record_add(json_object *, const redisReply *fields,
		    const struct ctl_field *);
json_object	*ctl_record_json(const redisReply *fields,
		    const struct ctl_field *);
json_object	*ctl_entry_json(const redisReply *entry,
		    const struct ctl_field *);
json_object	*ctl_event_json(json_object *event, const struct ctl_field *);
void		 ctl_print_json(json_object *);	/* and frees it */
void		 ctl_print_ms(const char *label, unsigned long long ms);
int		 ctl_error(int status, const char *code, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
int		 ctl_verror(int status, const char *code, const char *,
		    va_list);

/* ctl_queue.c */
int	ctl_queue(int, char **);
int	ctl_stats(int, char **);
int	ctl_enqueue(int, char **);
int	ctl_forget(int, char **);
int	ctl_pause(int, char **);
char	*ctl_pause_set(const char *reason);	/* the note in force */
int	ctl_resume(int, char **);

/* ctl_dead.c */
int	ctl_dead(int, char **);
int	ctl_retry(int, char **);
int	ctl_delete(int, char **);
int	ctl_purge(int, char **);
int	ctl_held(int, char **);

/* ctl_job.c */
int	ctl_status(int, char **);
int	ctl_watch(int, char **);
int	ctl_snapshot(int, char **);
int	ctl_diffs(int, char **);

/* ctl_find.c */
int	ctl_find(int, char **);

/* ctl_schedule.c */
int	ctl_schedule(int, char **);
json_object *ctl_schedule_stats(json_object *, const struct conf *,
	    unsigned long long now);

/* ctl_live.c: live work, acting on it (retry now, cancel, quiet). */
int	ctl_running(int, char **);
int	ctl_retry_now(int, char **);
int	ctl_cancel(int, char **);
int	ctl_quiet(int, char **);
int	ctl_unquiet(int, char **);
int	ctl_drain(int, char **);
int	ctl_pause_wait(int, char **);	/* pause [--wait] */

/* ctl_file.c: offline commands on files. */
int	ctl_diff(int argc, char **argv);	/* rosterctl diff OLD NEW */
int	ctl_apply(int argc, char **argv);	/* rosterctl apply BASE DIFF */

/* ctl_print.c: a roster diff for people, one line per change. */
void	ctl_print_diff(FILE *, json_object *diff);

#endif
