/*
 * rosterctl's connection to Redis (ctl_conn.c): blocking, with rosterd's
 * settings and TLS policy, Sentinel when configured.  A leaf: common/
 * only.  A call that gets no reply returns NULL (or -1) and
 * ctl_conn_error() says why.
 */
#ifndef ROSTERD_CTL_CONN_H
#define ROSTERD_CTL_CONN_H

#include <stdarg.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

struct conf;

int		 ctl_conn_open(const struct conf *);
redisReply	*ctl_conn_vcommand(const char *, va_list);
redisReply	*ctl_conn_argv(int, const char **, const size_t *);
redisReply	*ctl_conn_read(void);		/* the next reply (watch) */
void		 ctl_conn_wait_forever(void);
const char	*ctl_conn_error(void);
void		 ctl_conn_close(void);

#endif
