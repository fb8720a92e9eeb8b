/*
 * Allocation wrappers that cannot return NULL (tmux style): on failure they
 * call fatalx(), so callers never check.
 */
#ifndef ROSTERD_XMALLOC_H
#define ROSTERD_XMALLOC_H

#include <stddef.h>

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

#endif
