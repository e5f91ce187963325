/* wavemill-worker — options, config, then the worker loop. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmdb.h"
#include "config.h"
#include "log.h"
#include "provider_aws.h"
#include "worker.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
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

static int load_config(struct wm_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int o, rc;
    for (optind = 1; (o = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1;)
        if (o == 'c')
            path = optarg;
        else if (o != 's') {
            fprintf(o == 'h' ? stdout : stderr,
                    "usage: wavemill-worker [--config FILE] [--set key=value]...\n");
            snprintf(err, errlen, "%s", o == 'h' ? "" : "bad option");
            return o == 'h' ? 1 : -EINVAL;
        }
    if ((rc = wm_config_load(cfg, path, err, errlen)) < 0)
        return rc;
    for (optind = 1; (o = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1;)
        if (o == 's' && (rc = apply_set(cfg, optarg, err, errlen)) < 0)
            return rc;
    return wm_config_validate(cfg, err, errlen);
}

int main(int argc, char **argv)
{
    char err[1024] = "";
    wm_log_set_component("worker");
    struct wm_config *cfg = wm_config_new();
    /* secrets.master_key is declared by worker_declare (the transport
     * drivers'); aws.* and cmdb.* are the aws provider's and the CMDB step's */
    if (!cfg || worker_declare(cfg, err, sizeof(err)) < 0 ||
        provider_aws_declare(cfg, err, sizeof(err)) < 0 || cmdb_declare(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-worker: %s\n", err);
        return 1;
    }
    int rc = load_config(cfg, argc, argv, err, sizeof(err));
    if (rc != 0) {
        if (*err)
            fprintf(stderr, "wavemill-worker: %s\n", err);
        wm_config_free(cfg);
        return rc > 0 ? 0 : 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct worker *w = worker_new(cfg, err, sizeof(err));
    if (!w) {
        fprintf(stderr, "wavemill-worker: %s\n", err);
        wm_config_free(cfg);
        return 1;
    }
    rc = worker_run(w, &stop_flag, err, sizeof(err));
    worker_free(w);
    wm_config_free(cfg);
    if (rc < 0) {
        fprintf(stderr, "wavemill-worker: %s\n", err);
        return 1;
    }
    return 0;
}
