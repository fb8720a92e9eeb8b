/* rosterctl private header: each subcommand is int ctl_<name>(argc, argv). */
#ifndef ROSTERD_CTL_H
#define ROSTERD_CTL_H

/* Offline commands on files (daemon/ctl_file.c). */
int	ctl_diff(int argc, char **argv);	/* rosterctl diff OLD NEW */
int	ctl_apply(int argc, char **argv);	/* rosterctl apply BASE DIFF */

/* Print a roster diff for people, one line per change (ctl_print.c). */
#include <stdio.h>
#include <json-c/json.h>
void	ctl_print_diff(FILE *, json_object *diff);

#endif
