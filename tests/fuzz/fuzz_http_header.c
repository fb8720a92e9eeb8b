/*
 * libFuzzer target: HTTP response header lines as curl hands them to the
 * daemon's header callback (http.c's header_cb, included here so that the
 * very function runs): status lines, Content-Length (checked against the
 * body limit), the X-RateLimit-* family with several buckets, and
 * anything else (ETag, Date, ...: ignored).  The input is split at '\n'.
 * Properties: the public rate-limit fields describe a bucket that was
 * sent (limit and remaining -1 or >= 0, the bucket name printable); a
 * Content-Length over the limit refuses the response; nothing crashes.
 */
#include "../../daemon/http.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_BODY	65536

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req	*r = xcalloc(1, sizeof(*r));
	const char	*p = (const char *)data, *end = p + size, *nl;
	char		*line;
	size_t		 n, i, ret;

	http_body_init(&r->body, MAX_BODY);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		/* curl's buffer holds the line only: no terminator after it */
		line = xmalloc(n);
		memcpy(line, p, n);
		ret = header_cb(line, 1, n, r);
		free(line);
		if (ret != n && !r->too_large)
			abort();	/* refused for no reason */
		if (ret != n)
			break;		/* curl stops the transfer */
		p += n;
	}
	if (r->rl.present) {
		if (r->rl.limit < -1 || r->rl.remaining < -1 || r->rl.reset < 0)
			abort();
		for (i = 0; r->rl.bucket[i] != '\0'; i++)
			if (!isprint((unsigned char)r->rl.bucket[i]))
				abort();
	}
	if (r->body.cap > MAX_BODY)
		abort();		/* reserved more than the limit */
	http_body_free(&r->body);
	free(r);
	return 0;
}
