/* daemon — shared program start-up, so every main parses the same flags
 * the same way. */
#include "daemon.h"

#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define DAEMON_FLAGS_MAX 32
#define DAEMON_OPT_BASE 256 /* getopt values of the program's own flags */

enum daemon_action { ACT_RUN, ACT_PRINT, ACT_REFERENCE, ACT_CHECK };

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

static void usage(FILE *f, const char *name, const struct wm_daemon_flag *flags, size_t nflags)
{
    fprintf(f, "usage: %s [--config FILE] [--set key=value]...", name);
    for (size_t i = 0; i < nflags; i++)
        fprintf(f, " [--%s V]", flags[i].name);
    fprintf(f,
            "\n       %s --print-config | --reference | --check | --version | --help\n"
            "  --config FILE   configuration file (default: $WAVEMILL_CONFIG; the sections of\n"
            "                  other programs in it are skipped)\n"
            "  --set KEY=V     one key over the file and WAVEMILL_* (e.g. --set log.level=debug)\n",
            name);
    for (size_t i = 0; i < nflags; i++)
        fprintf(f, "  --%-13s sets %s\n", flags[i].name, flags[i].key);
    fprintf(f,
            "  --print-config  print the effective configuration (secrets as ***) and exit\n"
            "  --reference     print every key this program reads (tab-separated) and exit\n"
            "  --check         load and validate the configuration, then exit\n"
            "Keys, types and defaults: docs/configuration.md (man: %s --reference).\n",
            name);
}

/* log.level is validated by config when set, so parsing it cannot fail here. */
static void apply_log_level(const struct wm_config *cfg)
{
    enum wm_log_level level;
    if (wm_log_parse_level(wm_config_str(cfg, "log.level"), &level) == 0)
        wm_log_set_level(level);
}

static void print_cfg(const struct wm_config *cfg)
{
    static char buf[65536];
    wm_config_dump(cfg, buf, sizeof(buf));
    fputs(buf, stdout);
}

static void warn_defaults(const struct wm_config *cfg)
{
    char buf[2048];
    if (wm_config_defaults_in_use(cfg, buf, sizeof(buf)) > 0)
        wm_warn("config.defaults",
                "msg=\"no configuration file (--config, WAVEMILL_CONFIG) and no WAVEMILL_* "
                "variable: built-in defaults in use\" %s",
                buf);
}

/* Builds the getopt table: the common options, then the program's flags. */
static void build_opts(struct option *opts, const struct wm_daemon_flag *flags, size_t nflags)
{
    static const struct option common[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {"print-config", no_argument, NULL, 'p'}, {"reference", no_argument, NULL, 'R'},
        {"check", no_argument, NULL, 'C'},
    };
    size_t n = sizeof(common) / sizeof(common[0]);
    memcpy(opts, common, sizeof(common));
    for (size_t i = 0; i < nflags; i++)
        opts[n + i] =
            (struct option){flags[i].name, flags[i].value ? no_argument : required_argument, NULL,
                            DAEMON_OPT_BASE + (int)i};
    opts[n + nflags] = (struct option){NULL, 0, NULL, 0};
}

/* First pass: the file, the action, --help/--version.  1 = exit 0. */
static int scan_opts(int argc, char **argv, const struct option *opts, const char *name,
                     const struct wm_daemon_flag *flags, size_t nflags, const char **path,
                     enum daemon_action *act, char *err, size_t errlen)
{
    int o;
    for (optind = 1; (o = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1;) {
        switch (o) {
        case 'c':
            *path = optarg;
            break;
        case 'p':
            *act = ACT_PRINT;
            break;
        case 'R':
            *act = ACT_REFERENCE;
            break;
        case 'C':
            *act = ACT_CHECK;
            break;
        case 'V':
            printf("%s %s\n", name, WAVEMILL_VERSION);
            *err = '\0';
            return 1;
        case 'h':
            usage(stdout, name, flags, nflags);
            *err = '\0';
            return 1;
        case 's':
            break;
        default:
            if (o >= DAEMON_OPT_BASE)
                break;
            usage(stderr, name, flags, nflags);
            snprintf(err, errlen, "bad option");
            return -EINVAL;
        }
    }
    if (optind != argc) {
        usage(stderr, name, flags, nflags);
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    return 0;
}

/* Second pass: --set and the program's flags, in command-line order. */
static int apply_flags(struct wm_config *cfg, int argc, char **argv, const struct option *opts,
                       const struct wm_daemon_flag *flags, char *err, size_t errlen)
{
    int o, rc;
    for (optind = 1; (o = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1;) {
        if (o == 's' && (rc = apply_set(cfg, optarg, err, errlen)) < 0)
            return rc;
        if (o >= DAEMON_OPT_BASE) {
            const struct wm_daemon_flag *f = &flags[o - DAEMON_OPT_BASE];
            char origin[64];
            snprintf(origin, sizeof(origin), "--%s", f->name);
            const char *v = f->value ? f->value : optarg;
            if ((rc = wm_config_set(cfg, f->key, v, origin, err, errlen)) < 0)
                return rc;
        }
    }
    return 0;
}

int wm_daemon_config_flags(struct wm_config *cfg, int argc, char **argv, const char *name,
                           const struct wm_daemon_flag *flags, size_t nflags, char *err,
                           size_t errlen)
{
    struct option opts[8 + DAEMON_FLAGS_MAX];
    if (nflags > DAEMON_FLAGS_MAX) {
        snprintf(err, errlen, "too many program flags (%zu)", nflags);
        return -EINVAL;
    }
    build_opts(opts, flags, nflags);
    const char *path = NULL;
    enum daemon_action act = ACT_RUN;
    int rc = scan_opts(argc, argv, opts, name, flags, nflags, &path, &act, err, errlen);
    if (rc != 0)
        return rc;
    if (act == ACT_REFERENCE) {
        wm_config_reference(cfg, name, stdout);
        *err = '\0';
        return 1;
    }
    if (!path && getenv("WAVEMILL_CONFIG") && *getenv("WAVEMILL_CONFIG"))
        path = getenv("WAVEMILL_CONFIG");
    if ((rc = wm_config_load(cfg, path, err, errlen)) < 0 ||
        (rc = apply_flags(cfg, argc, argv, opts, flags, err, errlen)) < 0 ||
        (rc = wm_config_validate(cfg, err, errlen)) < 0)
        return rc;
    apply_log_level(cfg);
    *err = '\0';
    if (act == ACT_PRINT) {
        print_cfg(cfg);
        return 1;
    }
    if (act == ACT_CHECK) {
        printf("%s: %s: ok (%zu keys of other programs' sections skipped)\n", name,
               path ? path : "(no file)", wm_config_ignored(cfg));
        return 1;
    }
    warn_defaults(cfg);
    return 0;
}

int wm_daemon_config(struct wm_config *cfg, int argc, char **argv, const char *name, char *err,
                     size_t errlen)
{
    return wm_daemon_config_flags(cfg, argc, argv, name, NULL, 0, err, errlen);
}
