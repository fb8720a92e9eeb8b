/*
 * The baseline of the CPU target: what json-c alone needs to parse a set of
 * Clever responses, fed in 16 KiB pieces as curl delivers them.
 * Input: a file of records "<length>\n<body>" (bench_daemon.py cpu writes
 * one from the sandbox's responses).  Prints the CPU time per record group.
 * usage: bench_parse FILE GROUPS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

static double
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	FILE *fp;
	char *buf = NULL;
	size_t cap = 0, len, off, n = 0, bytes = 0;
	double t0, total = 0;
	json_tokener *tok;
	json_object *o;
	long groups;

	if (argc != 3 || (fp = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "usage: bench_parse FILE GROUPS\n");
		return 1;
	}
	groups = strtol(argv[2], NULL, 10);
	while (fscanf(fp, "%zu", &len) == 1 && fgetc(fp) == '\n') {
		if (len + 1 > cap && (buf = realloc(buf, cap = len + 1)) == NULL)
			return 1;
		if (fread(buf, 1, len, fp) != len)
			break;
		t0 = cpu_ms();
		tok = json_tokener_new();
		o = NULL;
		for (off = 0; off < len && o == NULL; off += 16384)
			o = json_tokener_parse_ex(tok, buf + off,
			    (int)(len - off < 16384 ? len - off : 16384));
		json_object_put(o);
		json_tokener_free(tok);
		total += cpu_ms() - t0;
		n++;
		bytes += len;
	}
	printf("json-c alone: %zu responses, %.1f MB, %.0f ms = %.3f ms per "
	    "teacher\n", n, bytes / 1e6, total, total / (groups ? groups : 1));
	free(buf);
	fclose(fp);
	return 0;
}
