/*
 * The JSON a job writes into Redis, built from the roster model alone
 * (tests/unit/test_job_json.c): both malloc'ed, NUL-terminated.
 */
#ifndef ROSTERD_JOB_JSON_H
#define ROSTERD_JOB_JSON_H

#include <stddef.h>

#include "roster.h"

/*
 * The status fields of a sync's result as a JSON object: the counts of
 * its diff and, with unrec (roster_unrecognised_json(), or NULL), how many
 * raw values were not recognised and which.
 */
char	*job_counts_json(const struct roster_diff_counts *, const char *unrec);

/*
 * The picker's list: the sections without their students, by id, each
 * once, '/' not escaped; *lenp its length, *countp the sections listed.
 */
char	*job_sections_json(const struct roster *, size_t *lenp,
	    size_t *countp);

#endif
