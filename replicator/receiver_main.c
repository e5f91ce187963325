/* wavemill-receiver — the replication target.
 *   wavemill-receiver serve --listen HOST:PORT --root DIR --tls-dir DIR
 *                           [--io-timeout MS] [--checkpoint-bytes N] [--checkpoint-ms MS]
 *                           [--metrics-listen HOST:PORT] [--log-level L]
 * --metrics-listen serves /metrics, /healthz and /readyz (ready: the root
 * is a writable directory) over plain HTTP, as Prometheus scrapes. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "receiver.h"
#include "tls.h"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: wavemill-receiver serve --listen HOST:PORT --root DIR --tls-dir DIR\n"
        "         [--io-timeout MS] [--checkpoint-bytes N] [--checkpoint-ms MS]\n"
        "         [--metrics-listen HOST:PORT] [--log-level L]\n");
    return 2;
}

/* Ready when the root is a directory the receiver can write. */
static int root_ready(void *arg, char *err, size_t errlen)
{
    const char *root = arg;
    if (access(root, W_OK | X_OK) == 0)
        return 0;
    int e = errno;
    snprintf(err, errlen, "root %s: %s", root, strerror(e));
    return -e;
}

static struct wm_httpd *ops_start(const char *listen_on, const struct receiver_opts *o, char *err,
                                  size_t errlen)
{
    struct wm_httpd_opts ho = {.listen = listen_on, .metrics = o->metrics};
    struct wm_httpd *h = wm_httpd_new(&ho, err, errlen);
    if (h && (wm_httpd_ops(h, o->metrics) < 0 ||
              wm_httpd_ready_check(h, "root", root_ready, (void *)o->root) < 0 ||
              wm_httpd_start(h, err, errlen) < 0)) {
        wm_httpd_free(h);
        h = NULL;
    }
    return h;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "serve") != 0)
        return usage();
    static const struct option opts[] = {
        {"listen", 1, 0, 'l'},           {"root", 1, 0, 'r'},
        {"tls-dir", 1, 0, 't'},          {"io-timeout", 1, 0, 'i'},
        {"checkpoint-bytes", 1, 0, 'c'}, {"checkpoint-ms", 1, 0, 'm'},
        {"log-level", 1, 0, 'L'},        {"metrics-listen", 1, 0, 'M'},
        {0, 0, 0, 0}};
    struct receiver_opts o = {.io_timeout_ms = 60000};
    const char *listen_on = NULL, *tls_dir = NULL, *metrics_on = NULL;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        enum wm_log_level lv;
        switch (c) {
        case 'l':
            listen_on = optarg;
            break;
        case 'r':
            o.root = optarg;
            break;
        case 't':
            tls_dir = optarg;
            break;
        case 'i':
            o.io_timeout_ms = atoi(optarg);
            break;
        case 'c':
            o.ckpt_bytes = strtoull(optarg, NULL, 10);
            break;
        case 'm':
            o.ckpt_ms = atoi(optarg);
            break;
        case 'M':
            metrics_on = optarg;
            break;
        case 'L':
            if (wm_log_parse_level(optarg, &lv) < 0)
                return usage();
            wm_log_set_level(lv);
            break;
        default:
            return usage();
        }
    }
    if (!listen_on || !o.root || !tls_dir || optind != argc)
        return usage();
    wm_log_set_component("receiver");
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char err[512];
    o.metrics = metrics_on ? wm_metrics_new() : NULL;
    o.tls = wm_tls_ctx_new(tls_dir, WM_TLS_SERVER, err, sizeof(err));
    struct receiver *r = o.tls ? receiver_new(&o, err, sizeof(err)) : NULL;
    int lfd = r ? wm_tcp_listen(listen_on, 128, err, sizeof(err)) : -1;
    struct wm_httpd *ops = NULL;
    if (lfd >= 0 && metrics_on && !(ops = ops_start(metrics_on, &o, err, sizeof(err)))) {
        close(lfd);
        lfd = -1;
    }
    if (lfd < 0) {
        fprintf(stderr, "wavemill-receiver: %s\n", err);
        return 1;
    }
    wm_info("repl.listening", "listen=%s root=%s", listen_on, o.root);
    int rc = receiver_serve(r, lfd, &stop_flag);
    close(lfd);
    wm_httpd_free(ops);
    wm_info("repl.stopped", "rc=%d", rc);
    /* connections still running after the grace time keep what they use */
    if (receiver_drain(r, 5000) == 0) {
        receiver_free(r);
        wm_tls_ctx_free(o.tls);
        wm_metrics_free(o.metrics);
    }
    return rc < 0 ? 1 : 0;
}
