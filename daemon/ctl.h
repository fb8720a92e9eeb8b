/* rosterctl private header: each subcommand is int ctl_<name>(argc, argv). */
#ifndef ROSTERD_CTL_H
#define ROSTERD_CTL_H

/* Offline commands on files (daemon/ctl_file.c). */
int	ctl_diff(int argc, char **argv);	/* rosterctl diff OLD NEW */
int	ctl_apply(int argc, char **argv);	/* rosterctl apply BASE DIFF */

#endif
