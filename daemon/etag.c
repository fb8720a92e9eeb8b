/* The ETag record: built after a full sync, parsed before the next. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etag.h"
#include "xmalloc.h"

/* The first word of a record: a record of another format is not used. */
#define ETAG_MAGIC	"E1"

uint64_t
etag_fp_add(uint64_t h, const char *str)
{
	const unsigned char *p = (const unsigned char *)str;

	for (; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= 0xff;	/* a separator no string holds */
	return h * 0x100000001b3ULL;
}

/* A record holds tab- and line-separated text: nothing may contain them. */
int
etag_value_safe(const char *v)
{
	return v == NULL || strpbrk(v, "\t\n") == NULL;
}

int
etag_entry_add(char **entries, size_t *len, int kind, int first,
    const char *etag, const char *url)
{
	char *line;
	int n;

	if (kind < 0 || etag == NULL || *etag == '\0' || url == NULL ||
	    !etag_value_safe(etag) || !etag_value_safe(url))
		return -1;
	n = xasprintf(&line, "%d\t%d\t%s\t%s\n", kind, first != 0, etag, url);
	*entries = xrealloc(*entries, *len + (size_t)n + 1);
	memcpy(*entries + *len, line, (size_t)n + 1);
	*len += (size_t)n;
	free(line);
	return 0;
}

static void
etag_header(char *buf, size_t len, uint64_t fp, uint64_t version)
{
	snprintf(buf, len, ETAG_MAGIC " %016llx %llu", (unsigned long long)fp,
	    (unsigned long long)version);
}

char *
etag_record_build(uint64_t fp, uint64_t version, const char *authorized_by,
    const char *district, const char *email_lc, unsigned exact,
    const char *entries)
{
	char head[64], *rec;

	if (entries == NULL || !etag_value_safe(authorized_by) ||
	    !etag_value_safe(district) || !etag_value_safe(email_lc))
		return NULL;
	etag_header(head, sizeof(head), fp, version);
	xasprintf(&rec, "%s\n%s\t%s\t%s\t%u\n%s", head,
	    authorized_by ? authorized_by : "", district ? district : "",
	    email_lc ? email_lc : "", exact, entries);
	return rec;
}

/* Split one record line into n tab-separated fields; -1 if malformed. */
static int
record_fields(char *line, char **f, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if ((f[i] = strsep(&line, "\t")) == NULL)
			return -1;
	return line == NULL ? 0 : -1;
}

/* The number of tab-separated fields of a line. */
static int
meta_fields(const char *line)
{
	int n = 1;

	while ((line = strchr(line, '\t')) != NULL) {
		line++;
		n++;
	}
	return n;
}

/* A decimal number below max, digits only; -1 if not. */
static int
record_number(const char *s, int max)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9' || strlen(s) > 9)
		return -1;
	v = strtol(s, &end, 10);
	return *end == '\0' && v < max ? (int)v : -1;
}

/* One entry line into e; -1 unless it is sound. */
static int
record_entry(char *line, const char *url_prefix, int nkinds,
    struct etag_entry *e)
{
	char *f[4];

	if (record_fields(line, f, 4) == -1 ||
	    (e->kind = record_number(f[0], nkinds)) == -1 ||
	    (e->first = record_number(f[1], 2)) == -1 || *f[2] == '\0' ||
	    strncmp(f[3], url_prefix, strlen(url_prefix)) != 0)
		return -1;
	e->etag = f[2];
	e->url = f[3];
	return 0;
}

int
etag_record_parse(const char *rec, uint64_t fp, uint64_t version,
    const char *url_prefix, int nkinds, struct etag_record *out)
{
	char want[64], *p, *head, *meta, *line, *f[4];
	int nf, exact = 0;

	memset(out, 0, sizeof(*out));
	if (rec == NULL)
		return -1;
	etag_header(want, sizeof(want), fp, version);
	p = out->buf = xstrdup(rec);
	head = strsep(&p, "\n");
	meta = strsep(&p, "\n");
	if (p == NULL || strcmp(head, want) != 0)
		goto bad;
	/* three fields: written before EXACT, which is then none */
	nf = meta_fields(meta);
	if ((nf != 3 && nf != 4) || record_fields(meta, f, nf) == -1 ||
	    (nf == 4 && (exact = record_number(f[3], 1 << 30)) == -1))
		goto bad;
	out->exact = (unsigned)exact;
	out->authorized_by = f[0];
	out->district = f[1];
	out->email_lc = f[2];
	while ((line = strsep(&p, "\n")) != NULL) {
		if (*line == '\0')
			continue;
		out->entries = xreallocarray(out->entries, out->n + 1,
		    sizeof(*out->entries));
		if (record_entry(line, url_prefix, nkinds,
		    &out->entries[out->n]) == -1)
			goto bad;
		out->n++;
	}
	if (out->n == 0)
		goto bad;	/* vouches for nothing */
	return 0;
bad:
	etag_record_free(out);
	return -1;
}

void
etag_record_free(struct etag_record *r)
{
	free(r->entries);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}
