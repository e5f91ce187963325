/* daemon — the start-up every wavemill program shares: --config/--set
 * parsing, config load and validation, --version, --print-config,
 * --reference and --check, the notice when only built-in defaults are in
 * use, and the SIGTERM/SIGINT stop flag. */
#ifndef WM_DAEMON_H
#define WM_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#ifndef WAVEMILL_VERSION
#define WAVEMILL_VERSION "0.1.0"
#endif

/* A program's own flag that sets one config key: --name VALUE -> key. */
struct wm_daemon_flag {
    const char *name;  /* without the leading "--" */
    const char *key;
    const char *value; /* NULL: the flag takes a value; else a bare flag that sets this */
};

/* Options every program takes:
 *   --config FILE     the configuration file (else $WAVEMILL_CONFIG, else none)
 *   --set key=value   one key, over the file and the environment
 *   --print-config    print the effective configuration (secrets as ***), exit
 *   --reference       print the declared keys (wm_config_reference), exit
 *   --check           load and validate, print "<name>: FILE: ok", exit
 *   --version, --help
 * Loads the file (or the defaults), the WAVEMILL_* environment, then the
 * flags in order, validates, applies log.level, and warns (event
 * config.defaults) when neither a file nor a WAVEMILL_* variable was given.
 * Returns 0 to go on running, 1 when the program should exit 0 (err is
 * ""), negative errno with err. */
int wm_daemon_config(struct wm_config *cfg, int argc, char **argv, const char *name, char *err,
                     size_t errlen);

/* The same, with the program's own flags (each sets one key).  argv[0] is
 * skipped as by getopt: pass argv + 1 to start after a subcommand. */
int wm_daemon_config_flags(struct wm_config *cfg, int argc, char **argv, const char *name,
                           const struct wm_daemon_flag *flags, size_t nflags, char *err,
                           size_t errlen);

/* Keeps decrypted secrets out of core files and away from other processes
 * of the same user: RLIMIT_CORE 0 and PR_SET_DUMPABLE 0 (no core, no
 * ptrace attach, /proc/PID/mem and environ owned by root).  0 or -errno. */
int wm_daemon_harden(char *err, size_t errlen);

/* Installs SIGTERM/SIGINT handlers and hardens the process
 * (wm_daemon_harden); returns the flag they set. */
volatile sig_atomic_t *wm_daemon_signals(void);

#endif
