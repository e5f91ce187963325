/* daemon — shared daemon start-up, so every main parses the same flags the
 * same way. */
#include "daemon.h"

#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int wm_daemon_harden(char *err, size_t errlen)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        snprintf(err, errlen, "cannot forbid core dumps: %s", strerror(errno));
        return -errno;
    }
    return 0;
}

volatile sig_atomic_t *wm_daemon_signals(void)
{
    char err[128];
    if (wm_daemon_harden(err, sizeof(err)) < 0)
        wm_warn("daemon.harden_failed", "err=\"%s\"", err);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return &stop_flag;
}

static int apply_set(struct wm_config *cfg, const char *kv, char *err, size_t errlen)
{
    char key[128];
    const char *eq = strchr(kv, '=');
    if (!eq || (size_t)(eq - kv) >= sizeof(key)) {
        snprintf(err, errlen, "--set wants key=value, got '%s'", kv);
        return -EINVAL;
    }
    snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
    return wm_config_set(cfg, key, eq + 1, "--set", err, errlen);
}

static void usage(FILE *f, const char *name, bool print_config)
{
    fprintf(f, "usage: %s [--config FILE] [--set key=value]...%s\n", name,
            print_config ? " [--print-config]" : "");
}

/* log.level is validated by config when set, so parsing it cannot fail here. */
static void apply_log_level(const struct wm_config *cfg)
{
    enum wm_log_level level;
    if (wm_log_parse_level(wm_config_str(cfg, "log.level"), &level) == 0)
        wm_log_set_level(level);
}

static int print_cfg(const struct wm_config *cfg)
{
    static char buf[16384];
    wm_config_dump(cfg, buf, sizeof(buf));
    fputs(buf, stdout);
    return 1;
}

int wm_daemon_config(struct wm_config *cfg, int argc, char **argv, const char *name,
                     bool print_config, char *err, size_t errlen)
{
    /* --print-config is left out of the table when the daemon has none, so
     * getopt rejects it like any unknown option */
    const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                  {"set", required_argument, NULL, 's'},
                                  {"help", no_argument, NULL, 'h'},
                                  {print_config ? "print-config" : NULL, no_argument, NULL, 'p'},
                                  {NULL, 0, NULL, 0}};
    const char *shorts = print_config ? "c:s:ph" : "c:s:h";
    const char *path = NULL;
    bool print = false;
    int o, rc;
    for (optind = 1; (o = getopt_long(argc, argv, shorts, opts, NULL)) != -1;)
        if (o == 'c')
            path = optarg;
        else if (o == 'p')
            print = true;
        else if (o != 's') {
            usage(o == 'h' ? stdout : stderr, name, print_config);
            snprintf(err, errlen, "%s", o == 'h' ? "" : "bad option");
            return o == 'h' ? 1 : -EINVAL;
        }
    if ((rc = wm_config_load(cfg, path, err, errlen)) < 0)
        return rc;
    for (optind = 1; (o = getopt_long(argc, argv, shorts, opts, NULL)) != -1;)
        if (o == 's' && (rc = apply_set(cfg, optarg, err, errlen)) < 0)
            return rc;
    if ((rc = wm_config_validate(cfg, err, errlen)) < 0)
        return rc;
    apply_log_level(cfg);
    return print ? print_cfg(cfg) : 0;
}
