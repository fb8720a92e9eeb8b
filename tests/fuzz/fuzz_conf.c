/*
 * libFuzzer target: the configuration file, read through conf_load() as
 * rosterd and rosterctl read it (from a file: here a memfd).  Any input
 * must load or be refused with a message naming what is wrong; a loaded
 * configuration must satisfy every key's range; nothing leaks.
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	fd = -1;
static char	path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c;
	char err[512];

	if (fd == -1) {
		if ((fd = memfd_create("fuzz_conf", 0)) == -1)
			__builtin_trap();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) !=
	    (ssize_t)size)
		__builtin_trap();
	err[0] = '\0';
	if (conf_load(&c, path, err, sizeof(err)) == 0) {
		/* what the daemon relies on without checking again */
		if (c.sync_concurrency < 1 || c.redis_port < 1 ||
		    c.redis_port > 65535 || c.clever_max_body < 1024)
			__builtin_trap();
		conf_free(&c);
	} else if (err[0] == '\0')
		__builtin_trap();	/* refused without a reason */
	return 0;
}
