/* daemon — the start-up every wavemill daemon shares: --config/--set
 * (and optionally --print-config) parsing, config load and validation,
 * and the SIGTERM/SIGINT stop flag. */
#ifndef WM_DAEMON_H
#define WM_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Loads FILE from --config (or the defaults), applies every --set key=value
 * over it, then validates and applies log.level to the logger.  `name` is the program name for the usage line;
 * `print_config` accepts --print-config, which dumps the loaded config to
 * stdout.  Returns 0 to go on running, 1 when the daemon should exit 0
 * (--help or --print-config done; err is ""), negative errno with err. */
int wm_daemon_config(struct wm_config *cfg, int argc, char **argv, const char *name,
                     bool print_config, char *err, size_t errlen);

/* Keeps decrypted secrets out of core files and away from other processes
 * of the same user: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0 (no core, no
 * ptrace attach, /proc/PID/mem and environ owned by root).  0 or -errno. */
int wm_daemon_harden(char *err, size_t errlen);

/* Installs SIGTERM/SIGINT handlers and hardens the process
 * (wm_daemon_harden); returns the flag they set. */
volatile sig_atomic_t *wm_daemon_signals(void);

#endif
