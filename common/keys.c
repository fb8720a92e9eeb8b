/* The Redis contract's key names (keys.h). */
#include <stddef.h>
#include <stdio.h>

#include "keys.h"
#include "log.h"
#include "xmalloc.h"

/* PREFIX head, or PREFIX head ID tail when the key has an id. */
static const struct {
	const char	*head;
	const char	*tail;	/* NULL: the key takes no id */
} keys[KEY_COUNT] = {
	[KEY_JOBS] = { "jobs", NULL },
	[KEY_DIFFS] = { "diffs", NULL },
	[KEY_DIFFS_PARTITIONS] = { "diffs:partitions", NULL },
	[KEY_DEAD] = { "dead", NULL },
	[KEY_EVENTS] = { "events", NULL },
	[KEY_ACCOUNTS] = { "accounts", NULL },
	[KEY_CONTRACT] = { "contract", NULL },
	[KEY_PAUSED] = { "paused", NULL },
	[KEY_DIFFS_LOST] = { "diffs_lost", NULL },
	[KEY_TRIM_LOCK] = { "trim_lock", NULL },
	[KEY_SCHEDULE] = { "schedule", NULL },
	[KEY_SCHEDULE_LEFT] = { "schedule:left", NULL },
	[KEY_REAUTHORIZE] = { "reauthorize", NULL },
	[KEY_SCHEDULE_ENROLLED] = { "schedule:enrolled", NULL },

	[KEY_DIFFS_PART] = { "diffs:", "" },
	[KEY_JOB] = { "job:", "" },
	[KEY_TOKEN] = { "token:", "" },
	[KEY_DISTRICT_TOKEN] = { "district_token:", "" },
	[KEY_INSTANCE] = { "instance:", "" },
	[KEY_QUIET] = { "quiet:", "" },
	[KEY_CONTROL] = { "control:", "" },
	[KEY_RATELIMIT] = { "ratelimit:{rl}:", "" },
	[KEY_ME] = { "me:", "" },

	[KEY_SNAPSHOT] = { "snapshot:{", "}" },
	[KEY_LOCK] = { "lock:{", "}" },
	[KEY_STATE] = { "state:{", "}" },
	[KEY_SELECTION] = { "selection:{", "}" },
	[KEY_SECTIONS] = { "sections:{", "}" },

	[KEY_DISTRICTS] = { "districts", NULL },
	[KEY_DISTRICT] = { "district:{", "}" },
	[KEY_DISTRICT_TEACHERS] = { "district_teachers:{", "}" },
	[KEY_EVENT_CURSOR] = { "event_cursor:{", "}" },
	[KEY_EVENT_LOCK] = { "event_lock:{", "}" },
};

char *
keys_name(const char *prefix, enum key which, const char *id)
{
	char *k;

	if ((unsigned)which >= KEY_COUNT || keys[which].head == NULL ||
	    (id == NULL) != (keys[which].tail == NULL))
		fatalx("key %d asked for with%s an id", (int)which,
		    id == NULL ? "out" : "");
	xasprintf(&k, "%s%s%s%s", prefix, keys[which].head, id ? id : "",
	    id ? keys[which].tail : "");
	return k;
}

char *
keys_diffs(const char *prefix, unsigned n, unsigned p)
{
	char id[16];

	if (n <= 1)
		return keys_name(prefix, KEY_DIFFS, NULL);
	snprintf(id, sizeof(id), "%u", p);
	return keys_name(prefix, KEY_DIFFS_PART, id);
}
