/* wavemill-worker — options, config, then the worker loop. */
#include <signal.h>
#include <stdio.h>

#include "cmdb/cmdb.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "opsd.h"
#include "provider/aws/provider_aws.h"
#include "provider/libvirt/provider_libvirt.h"
#include "worker.h"

int main(int argc, char **argv)
{
    char err[1024] = "";
    wm_log_set_component("worker");
    struct wm_config *cfg = wm_config_new();
    /* secrets.master_key is declared by worker_declare (the transport
     * drivers'); aws.* and cmdb.* are the aws provider's and the CMDB step's */
    if (!cfg || worker_declare(cfg, err, sizeof(err)) < 0 ||
        provider_aws_declare(cfg, err, sizeof(err)) < 0 ||
        provider_libvirt_declare(cfg, err, sizeof(err)) < 0 || cmdb_declare(cfg, err, sizeof(err)) < 0 ||
        wm_opsd_declare(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-worker: %s\n", err);
        return 1;
    }
    int rc = wm_daemon_config(cfg, argc, argv, "wavemill-worker", err, sizeof(err));
    if (rc != 0) {
        if (*err)
            fprintf(stderr, "wavemill-worker: %s\n", err);
        wm_config_free(cfg);
        return rc > 0 ? 0 : 2;
    }
    volatile sig_atomic_t *stop = wm_daemon_signals();
    signal(SIGPIPE, SIG_IGN);
    struct worker *w = worker_new(cfg, err, sizeof(err));
    if (!w) {
        fprintf(stderr, "wavemill-worker: %s\n", err);
        wm_config_free(cfg);
        return 1;
    }
    struct wm_metrics *m = wm_metrics_new();
    struct wm_opsd *ops = m && worker_set_metrics(w, m) == 0 ? wm_opsd_start(cfg, m, err, sizeof(err))
                                                              : NULL;
    if (*err) {
        fprintf(stderr, "wavemill-worker: %s\n", err);
        worker_free(w);
        wm_metrics_free(m);
        wm_config_free(cfg);
        return 1;
    }
    rc = worker_run(w, stop, err, sizeof(err));
    wm_opsd_stop(ops);
    worker_free(w);
    wm_metrics_free(m);
    wm_config_free(cfg);
    if (rc < 0) {
        fprintf(stderr, "wavemill-worker: %s\n", err);
        return 1;
    }
    return 0;
}
