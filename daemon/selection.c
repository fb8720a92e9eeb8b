/* The teacher's section selection, parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "roster.h"
#include "selection.h"
#include "xmalloc.h"

int
selection_parse(struct selection *sel, const char *v, char *err,
    size_t errlen)
{
	char *copy, *p, *id;

	memset(sel, 0, sizeof(*sel));
	if (v == NULL || strcmp(v, "all") == 0 || *v == '\0') {
		sel->mode = SEL_ALL;
		return 0;
	}
	if (strcmp(v, "none") == 0) {
		sel->mode = SEL_NONE;
		return 0;
	}
	sel->mode = SEL_LIST;
	copy = p = xstrdup(v);
	while ((id = strsep(&p, ", \t\n")) != NULL) {
		if (*id == '\0')
			continue;
		if (!contract_id_valid(id, ROSTER_ID_MAX)) {
			snprintf(err, errlen, "the section selection holds an "
			    "invalid section id");
			free(copy);
			selection_free(sel);
			return -1;
		}
		sel->ids = xreallocarray(sel->ids, sel->count + 1,
		    sizeof(*sel->ids));
		sel->ids[sel->count++] = xstrdup(id);
	}
	free(copy);
	if (sel->count == 0)
		sel->mode = SEL_NONE;
	return 0;
}

void
selection_free(struct selection *sel)
{
	size_t i;

	for (i = 0; i < sel->count; i++)
		free(sel->ids[i]);
	free(sel->ids);
	memset(sel, 0, sizeof(*sel));
}
