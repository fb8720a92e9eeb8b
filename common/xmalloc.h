/*
 * Allocation wrappers that cannot return NULL (tmux style): on failure they
 * call fatalx(), so callers never check.  Also monotonic-clock helpers.
 */
#ifndef ROSTERD_XMALLOC_H
#define ROSTERD_XMALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* strlcpy (glibc < 2.38 has none): copy, always terminate, return strlen. */
size_t	 xstrlcpy(char *, const char *, size_t);

/* Milliseconds on CLOCK_MONOTONIC: for timers, deadlines and durations. */
static inline uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds since the epoch: only for timestamps shown to people or apps. */
static inline uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A struct timeval for libevent from milliseconds. */
static inline struct timeval
ms_to_tv(uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
	    .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

#endif
