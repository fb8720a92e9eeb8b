/*
 * libFuzzer target: job stream entries as an app (or anyone with write
 * access to the queue) could write them.  The input is RESP, read with
 * hiredis's own reader into a reply, as rosterd receives it: an array of
 * the entry id and its field/value array (anything else is tried as the
 * fields of entry "1-0").  job_from_entry must accept or refuse with a
 * message, never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "rosterd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * hiredis 0.14's reader allocates what an array header announces before
 * the elements arrive: "*2000000000" is an out-of-memory of the reader,
 * not of rosterd (whose replies come from Redis).  Skip such inputs.
 */
static int
huge_array(const uint8_t *p, size_t n)
{
	size_t i, k;
	long v;

	for (i = 0; i < n; i++) {
		if (p[i] != '*')	/* where the reader resyncs is its own */
			continue;
		/* the input is not NUL-terminated: read the digits by hand */
		for (v = 0, k = i + 1; k < n && p[k] >= '0' && p[k] <= '9' &&
		    v <= 4096; k++)
			v = v * 10 + (p[k] - '0');
		if (v > 4096)
			return 1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	redisReader *rr = redisReaderCreate();
	redisReply *r = NULL, *fields;
	const char *id = "1-0";
	struct job *j;
	char err[256];

	if (huge_array(data, size)) {
		redisReaderFree(rr);
		return 0;
	}
	redisReaderFeed(rr, (const char *)data, size);
	if (redisReaderGetReply(rr, (void **)&r) == REDIS_OK && r != NULL) {
		fields = r;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING) {
			id = r->element[0]->str;
			fields = r->element[1];
		}
		err[0] = '\0';
		if ((j = job_from_entry(id, fields, err, sizeof(err))) != NULL)
			job_entry_free(j);
		else if (err[0] == '\0')
			__builtin_trap();	/* refused without a reason */
		freeReplyObject(r);
	}
	redisReaderFree(rr);
	return 0;
}
