#include "ctl.h"
int ctl_diff(int argc, char **argv) { (void)argc; (void)argv; return 1; }
int ctl_apply(int argc, char **argv) { (void)argc; (void)argv; return 1; }
