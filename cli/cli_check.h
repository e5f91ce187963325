/* cli_check — the pre-flight of a wave (`wavemill wave check`, and `wave
 * start` before it starts anything). */
#ifndef WM_CLI_CHECK_H
#define WM_CLI_CHECK_H

#include <stdbool.h>

struct cli_ctx;

/* Checks the wave's configuration and inventory and prints every problem
 * (per server, all at once; JSON with --json).  quiet_ok: print nothing
 * when there is no problem.  *errors gets the number of blocking problems.
 * CLI_OK when the check ran (whatever it found), else CLI_ERR (reason
 * printed, e.g. no such wave). */
int cli_check_wave(struct cli_ctx *ctx, const char *wave, bool quiet_ok, int *errors);

/* Asks on the terminal before a change that cannot wait (cutover now, a
 * wave-wide revert): true when yes (--yes) or the person typed "yes";
 * without a terminal and without --yes it refuses (reason printed). */
bool cli_confirm(struct cli_ctx *ctx, bool yes, const char *question);

#endif
