/* wavemill-api — options, config, then serve until SIGTERM/SIGINT.
 *   wavemill-api [--config FILE] [--set key=value]... [--print-config]
 * Keys: api.* (api.c), plus the common kafka.* / pg.* / log.*. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"

int main(int argc, char **argv)
{
    char err[1024] = "";
    wm_log_set_component("api");
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    struct wm_config *cfg = wm_config_new();
    if (!cfg || api_declare(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-api: %s\n", err);
        return 1;
    }
    int rc = wm_daemon_config(cfg, argc, argv, "wavemill-api", err, sizeof(err));
    if (rc != 0) {
        if (*err)
            fprintf(stderr, "wavemill-api: %s\n", err);
        wm_config_free(cfg);
        return rc > 0 ? 0 : 2;
    }
    volatile sig_atomic_t *stop = wm_daemon_signals();
    struct wm_metrics *m = wm_metrics_new();
    struct api *a = api_new(cfg, m, err, sizeof(err));
    if (!a || api_start(a, err, sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-api: %s\n", err);
        api_free(a);
        wm_metrics_free(m);
        wm_config_free(cfg);
        return 1;
    }
    while (!*stop)
        pause();
    wm_info("api.stopping", "signal=1");
    api_free(a);
    wm_metrics_free(m);
    wm_config_free(cfg);
    return 0;
}
