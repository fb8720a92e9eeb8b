/*
 * rosterd private header: the daemon's modules and their shared state.
 */
#ifndef ROSTERD_H
#define ROSTERD_H

#include <stdint.h>

#include <event2/event.h>

#include "conf.h"

struct rosterd;

/* rosterd.c */
extern struct rosterd *rd;

#endif
