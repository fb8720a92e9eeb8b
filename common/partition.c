/* Diff partitions (partition.h). */
#include <string.h>

#include "partition.h"

/* Bitwise, reflected polynomial 0xEDB88320: ids are short, no table. */
uint32_t
partition_crc32(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t c = 0xffffffffU;
	int k;

	while (len-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320U & (0U - (c & 1)));
	}
	return c ^ 0xffffffffU;
}

unsigned
partition_of(const char *teacher, unsigned n)
{
	if (n <= 1)
		return 0;
	return partition_crc32(teacher, strlen(teacher)) % n;
}
