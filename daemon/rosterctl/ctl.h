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

/* rosterctl.c: the connection, keys, output mode. */
extern int	ctl_json;		/* --json */
redisReply	*ctl_cmd(const char *, ...);
redisReply	*ctl_cmd_try(const char *, ...);
redisReply	*ctl_cmd_argv(int, const char **);
char		*ctl_key(enum key, const char *id);	/* keys.h */
int		 ctl_usage(const char *cmd);
void		 ctl_fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
unsigned long long ctl_redis_now_ms(void);
const struct conf *ctl_conf(void);

/* ctl_out.c: records (field/value replies) for people or as JSON. */
const char	*ctl_field(const redisReply *fields, const char *name);
void		 ctl_print_record(const char *title, const redisReply *fields,
		    const char *const *order);
json_object	*ctl_record_json(const redisReply *fields,
		    const char *const *order);
json_object	*ctl_entry_json(const redisReply *entry,
		    const char *const *order);
void		 ctl_print_json(json_object *);	/* and frees it */
void		 ctl_print_ms(const char *label, unsigned long long ms);
extern const char *const ctl_status_order[];
extern const char *const ctl_dead_order[];

/* ctl_queue.c */
int	ctl_queue(int, char **);
int	ctl_stats(int, char **);
int	ctl_enqueue(int, char **);
int	ctl_forget(int, char **);
int	ctl_pause(int, char **);
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

/* ctl_schedule.c */
int	ctl_schedule(int, char **);
json_object *ctl_schedule_stats(const struct conf *, unsigned long long now);

/* ctl_file.c: offline commands on files. */
int	ctl_diff(int argc, char **argv);	/* rosterctl diff OLD NEW */
int	ctl_apply(int argc, char **argv);	/* rosterctl apply BASE DIFF */

/* ctl_print.c: a roster diff for people, one line per change. */
void	ctl_print_diff(FILE *, json_object *diff);

#endif
