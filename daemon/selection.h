/*
 * The teacher's section selection ("Sync Classes"), as the app stores it
 * under the selection key: "all" (or nothing), "none", or section ids
 * separated by commas or white space.  Pure (tests/unit/test_selection.c).
 */
#ifndef ROSTERD_SELECTION_H
#define ROSTERD_SELECTION_H

#include <stddef.h>

enum selection_mode { SEL_ALL = 0, SEL_NONE, SEL_LIST };

struct selection {
	enum selection_mode	 mode;
	char			**ids;		/* SEL_LIST: count ids */
	size_t			 count;
};

/*
 * Parse v (NULL: all) into *sel, which holds nothing before.  -1 with a
 * message in err, and *sel empty (all), if an id is not a Clever id.  A
 * list of no ids is none.
 */
int	selection_parse(struct selection *sel, const char *v, char *err,
	    size_t errlen);
/* Free the ids; *sel is empty (all) again. */
void	selection_free(struct selection *sel);

#endif
