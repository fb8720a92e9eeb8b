/*
 * Diff partitions ([diffs] partitions, doc/contract.md): a teacher's diffs
 * all go to one stream, crc32(teacher id) mod N, so that one consumer per
 * partition reads each teacher's diffs in order.  The one place the
 * partition of a teacher is computed, for rosterd and rosterctl alike;
 * the CRC is zlib's (Python's binascii.crc32), which the apps compute too.
 */
#ifndef ROSTERD_PARTITION_H
#define ROSTERD_PARTITION_H

#include <stddef.h>
#include <stdint.h>

/* The most partitions [diffs] partitions allows. */
#define PARTITIONS_MAX	1024

/* CRC-32 (ISO-HDLC: zlib's crc32(0, buf, len)). */
uint32_t	partition_crc32(const void *buf, size_t len);

/* The partition of teacher among n (0 when n <= 1). */
unsigned	partition_of(const char *teacher, unsigned n);

#endif
