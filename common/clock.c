/* Clocks and retry delays (clock.h). */
#include <stdlib.h>
#include <time.h>

#include "clock.h"

static uint64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

uint64_t
wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

struct timeval
ms_to_tv(uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
	    .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

uint64_t
backoff_ms(int attempt, uint64_t base, uint64_t max)
{
	uint64_t d = base;

	while (--attempt > 0 && d < max)
		d *= 2;
	if (d > max)
		d = max;
	return d / 2 + arc4random_uniform((uint32_t)(d / 2 + 1));
}
