/* wavemill-scheduler — options, config, then the scheduler loop. */
#include <stdio.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "orch_sched.h"

int main(int argc, char **argv)
{
    char err[1024] = "";
    wm_log_set_component("scheduler");
    struct wm_config *cfg = wm_config_new();
    if (!cfg || orch_sched_declare(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-scheduler: %s\n", err);
        return 1;
    }
    int rc = wm_daemon_config(cfg, argc, argv, "wavemill-scheduler", true, err, sizeof(err));
    if (rc != 0) {
        if (*err)
            fprintf(stderr, "wavemill-scheduler: %s\n", err);
        wm_config_free(cfg);
        return rc > 0 ? 0 : 2;
    }
    volatile sig_atomic_t *stop = wm_daemon_signals();
    struct orch_sched *s = orch_sched_new(cfg, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "wavemill-scheduler: %s\n", err);
        wm_config_free(cfg);
        return 1;
    }
    rc = orch_sched_run(s, stop, err, sizeof(err));
    orch_sched_free(s);
    wm_config_free(cfg);
    if (rc < 0) {
        fprintf(stderr, "wavemill-scheduler: %s\n", err);
        return 1;
    }
    return 0;
}
