/* wavemill-scheduler — options, config, then the scheduler loop. */
#include <stdio.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "sched_loop.h"

int main(int argc, char **argv)
{
    char err[1024] = "";
    wm_log_set_component("scheduler");
    struct wm_config *cfg = wm_config_new();
    if (!cfg || sched_loop_declare(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-scheduler: %s\n", err);
        return 1;
    }
    int rc = wm_daemon_config(cfg, argc, argv, "wavemill-scheduler", err, sizeof(err));
    if (rc != 0) {
        if (*err)
            fprintf(stderr, "wavemill-scheduler: %s\n", err);
        wm_config_free(cfg);
        return rc > 0 ? 0 : 2;
    }
    volatile sig_atomic_t *stop = wm_daemon_signals();
    struct sched_loop *s = sched_loop_new(cfg, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "wavemill-scheduler: %s\n", err);
        wm_config_free(cfg);
        return 1;
    }
    rc = sched_loop_run(s, stop, err, sizeof(err));
    sched_loop_free(s);
    wm_config_free(cfg);
    if (rc < 0) {
        fprintf(stderr, "wavemill-scheduler: %s\n", err);
        return 1;
    }
    return 0;
}
