/* wavemill-receiver — the replication target.
 *   wavemill-receiver serve [--config FILE] [--set key=value]...
 *                           [--listen HOST:PORT] [--root DIR] [--tls-dir DIR]
 *                           [--io-timeout MS] [--checkpoint-bytes N] [--checkpoint-ms MS]
 *                           [--grace-ms MS] [--max-startups N] [--max-per-peer N]
 *                           [--max-conns N] [--max-volume-size SIZE]
 *                           [--require-bound-agents] [--max-streams N]
 *                           [--max-memory BYTES] [--max-files N] [--control HOST:PORT]
 *                           [--metrics-listen HOST:PORT] [--log-level L]
 *   wavemill-receiver export-ebs ...   (ebs_cli.c)
 *   wavemill-receiver --version | --reference | --print-config | --check [--config FILE]
 * Every flag sets a key of the [receiver] section (see receiver_keys).  The
 * bounds against unauthenticated clients are described in guard.h, the
 * volume size bound in rspace.h, the capacity beyond which agents are told
 * BUSY in admit.h; require_bound_agents refuses agent certificates that
 * name no volumes (pki.h: one identity per source); control opens the
 * receiver's control port (EBS exports, ebs_control.h); metrics_listen
 * serves /metrics, /healthz and /readyz (ready: the root is a writable
 * directory) over plain HTTP, as Prometheus scrapes. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "daemon.h"
#include "ebs_cli.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "receiver.h"
#include "tls.h"

static const struct wm_config_key receiver_keys[] = {
    {"receiver.listen", WM_CFG_STRING, "0.0.0.0:7470", 0, 0, true,
     "HOST:PORT the agents connect to (the workers' repl.receiver)"},
    {"receiver.root", WM_CFG_STRING, "/var/lib/wavemill/receiver", 0, 0, true,
     "folder of the target volumes and their journals"},
    {"receiver.tls_dir", WM_CFG_STRING, "/etc/wavemill/tls/receiver", 0, 0, true,
     "certificate folder (wavemill pki issue --role receiver): ca.crt, cert.pem, key.pem"},
    {"receiver.io_timeout", WM_CFG_DURATION, "60s", 1, 86400000, false,
     "per read/write on a data connection"},
    {"receiver.checkpoint_bytes", WM_CFG_SIZE, "0", 0, 0, false,
     "checkpoint a range after this many bytes covered (0: the built-in default)"},
    {"receiver.checkpoint_interval", WM_CFG_DURATION, "0", 0, 86400000, false,
     "... or after this long (0: the built-in default)"},
    {"receiver.grace", WM_CFG_DURATION, "0", 0, 3600000, false,
     "TLS handshake plus first request must finish within this (0: 15 s)"},
    {"receiver.max_startups", WM_CFG_INT, "0", 0, 100000, false,
     "connections not past their first request yet (0: 64)"},
    {"receiver.max_per_peer", WM_CFG_INT, "0", 0, 100000, false,
     "... of them from one address (0: 16)"},
    {"receiver.max_conns", WM_CFG_INT, "0", 0, 1000000, false,
     "connections at once (0: 256, at least 2 x max_streams + 64); more wait in the backlog"},
    {"receiver.max_volume_size", WM_CFG_SIZE, "0", 0, 0, false,
     "largest volume a BEGIN may declare (0: the built-in bound)"},
    {"receiver.require_bound_agents", WM_CFG_BOOL, "false", 0, 0, false,
     "refuse agent certificates not bound to their server's volumes"},
    {"receiver.max_streams", WM_CFG_INT, "0", 0, 1000000, false,
     "streams admitted at once; beyond: BUSY, retry after (0: built-in)"},
    {"receiver.max_memory", WM_CFG_SIZE, "0", 0, 0, false,
     "memory the admitted streams may use (0: built-in)"},
    {"receiver.max_files", WM_CFG_INT, "0", 0, 10000000, false,
     "open staging files (0: from RLIMIT_NOFILE)"},
    {"receiver.metrics_listen", WM_CFG_STRING, "", 0, 0, false,
     "HOST:PORT of /metrics, /healthz and /readyz (plain HTTP); empty: none"},
    {"receiver.control", WM_CFG_STRING, "", 0, 0, false,
     "HOST:PORT of the control port (EBS exports on a worker's request); empty: none"},
};

static const struct wm_daemon_flag receiver_flags[] = {
    {"listen", "receiver.listen", NULL},
    {"root", "receiver.root", NULL},
    {"tls-dir", "receiver.tls_dir", NULL},
    {"io-timeout", "receiver.io_timeout", NULL},
    {"checkpoint-bytes", "receiver.checkpoint_bytes", NULL},
    {"checkpoint-ms", "receiver.checkpoint_interval", NULL},
    {"grace-ms", "receiver.grace", NULL},
    {"max-startups", "receiver.max_startups", NULL},
    {"max-per-peer", "receiver.max_per_peer", NULL},
    {"max-conns", "receiver.max_conns", NULL},
    {"max-volume-size", "receiver.max_volume_size", NULL},
    {"require-bound-agents", "receiver.require_bound_agents", "true"},
    {"max-streams", "receiver.max_streams", NULL},
    {"max-memory", "receiver.max_memory", NULL},
    {"max-files", "receiver.max_files", NULL},
    {"control", "receiver.control", NULL},
    {"metrics-listen", "receiver.metrics_listen", NULL},
    {"log-level", "log.level", NULL},
};

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* The control port (EBS exports on a worker's request, ebs_control.h): its
 * own accept thread, the same certificate (workers must present role
 * "worker"). */
static struct control_opts control_o;
static int control_fd = -1;

static void *control_thread(void *arg)
{
    (void)arg;
    int rc = control_serve(&control_o, control_fd, &stop_flag);
    if (rc < 0)
        wm_warn("repl.control_stopped", "rc=%d", rc);
    return NULL;
}

static int receiver_control_start(const char *addr, const struct receiver_opts *o, char *err,
                                  size_t errlen)
{
    control_o = (struct control_opts){.server_tls = o->tls, .root = o->root, .progress_ms = 1000};
    control_fd = wm_tcp_listen(addr, 16, err, errlen);
    pthread_t t;
    if (control_fd < 0 || pthread_create(&t, NULL, control_thread, NULL) != 0)
        return -1;
    pthread_detach(t);
    wm_info("repl.control_listening", "listen=%s", addr);
    return 0;
}

static int usage(void)
{
    fprintf(
        stderr,
        "usage: wavemill-receiver serve [--config FILE] [--set key=value]... [--listen HOST:PORT]\n"
        "         [--root DIR] [--tls-dir DIR] [--io-timeout MS] [--checkpoint-bytes N]\n"
        "         [--checkpoint-ms MS] [--grace-ms MS] [--max-startups N] [--max-per-peer N]\n"
        "         [--max-conns N] [--max-volume-size SIZE (e.g. 4T)] [--require-bound-agents]\n"
        "         [--max-streams N] [--max-memory BYTES] [--max-files N] [--control HOST:PORT]\n"
        "         [--metrics-listen HOST:PORT] [--log-level L]\n"
        "       wavemill-receiver export-ebs --root DIR --volume NAME ... (--help)\n"
        "       wavemill-receiver --version | --reference | --print-config | --check "
        "[--config FILE]\n");
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

static void receiver_opts_from(const struct wm_config *cfg, struct receiver_opts *o)
{
    *o = (struct receiver_opts){
        .root = wm_config_str(cfg, "receiver.root"),
        .io_timeout_ms = (int)wm_config_int(cfg, "receiver.io_timeout"),
        .ckpt_bytes = (uint64_t)wm_config_int(cfg, "receiver.checkpoint_bytes"),
        .ckpt_ms = (int)wm_config_int(cfg, "receiver.checkpoint_interval"),
        .grace_ms = (int)wm_config_int(cfg, "receiver.grace"),
        .max_startups = (int)wm_config_int(cfg, "receiver.max_startups"),
        .max_per_peer = (int)wm_config_int(cfg, "receiver.max_per_peer"),
        .max_conns = (int)wm_config_int(cfg, "receiver.max_conns"),
        .max_volume = (uint64_t)wm_config_int(cfg, "receiver.max_volume_size"),
        .require_bound = wm_config_bool(cfg, "receiver.require_bound_agents"),
    };
    o->capacity.streams = (int)wm_config_int(cfg, "receiver.max_streams");
    o->capacity.mem_bytes = (uint64_t)wm_config_int(cfg, "receiver.max_memory");
    o->capacity.files = (int)wm_config_int(cfg, "receiver.max_files");
}

static int serve(const struct wm_config *cfg)
{
    struct receiver_opts o;
    receiver_opts_from(cfg, &o);
    const char *listen_on = wm_config_str(cfg, "receiver.listen");
    const char *tls_dir = wm_config_str(cfg, "receiver.tls_dir");
    const char *control_on = wm_config_str(cfg, "receiver.control");
    const char *metrics_on = wm_config_str(cfg, "receiver.metrics_listen");
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char err[512];
    if (wm_daemon_harden(err, sizeof(err)) < 0)
        wm_warn("repl.harden_failed", "err=\"%s\"", err);
    o.tls = wm_tls_own_cert_valid(tls_dir, err, sizeof(err)) == 0
                ? wm_tls_ctx_new(tls_dir, WM_TLS_SERVER, err, sizeof(err))
                : NULL;
    o.metrics = metrics_on && *metrics_on ? wm_metrics_new() : NULL;
    struct receiver *r = o.tls ? receiver_new(&o, err, sizeof(err)) : NULL;
    int lfd = r ? wm_tcp_listen(listen_on, 1024, err, sizeof(err)) : -1;
    struct wm_httpd *ops = NULL;
    if (lfd >= 0 && o.metrics && !(ops = ops_start(metrics_on, &o, err, sizeof(err)))) {
        close(lfd);
        lfd = -1;
    }
    if (lfd < 0) {
        fprintf(stderr, "wavemill-receiver: %s\n", err);
        return 1;
    }
    struct admit_stats ld;
    receiver_load(r, &ld);
    wm_info("repl.listening", "listen=%s root=%s max_streams=%d max_files=%d", listen_on, o.root,
            ld.streams_cap, ld.files_cap);
    if (control_on && *control_on &&
        receiver_control_start(control_on, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-receiver: %s\n", err);
        return 1;
    }
    int rc = receiver_serve(r, lfd, &stop_flag);
    close(lfd);
    wm_httpd_free(ops);
    receiver_load(r, &ld);
    wm_info("repl.stopped", "rc=%d streams_peak=%d busy_answers=%llu", rc, ld.streams_peak,
            (unsigned long long)ld.busy);
    /* connections still running after the grace time keep what they use */
    if (receiver_drain(r, 5000) == 0) {
        receiver_free(r);
        wm_tls_ctx_free(o.tls);
        wm_metrics_free(o.metrics);
    }
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "export-ebs") == 0)
        return ebs_cli_main(argc, argv);
    bool is_serve = argc >= 2 && strcmp(argv[1], "serve") == 0;
    if (argc < 2 || (!is_serve && argv[1][0] != '-'))
        return usage();
    wm_log_set_component("receiver");
    char err[1024] = "";
    struct wm_config *cfg = wm_config_new_bare();
    if (!cfg ||
        wm_config_declare(cfg, receiver_keys, sizeof(receiver_keys) / sizeof(receiver_keys[0]), err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-receiver: %s\n", err);
        return 1;
    }
    /* "serve" is a subcommand: the options start after it */
    int rc = wm_daemon_config_flags(
        cfg, is_serve ? argc - 1 : argc, is_serve ? argv + 1 : argv, "wavemill-receiver",
        receiver_flags, sizeof(receiver_flags) / sizeof(receiver_flags[0]), err, sizeof(err));
    if (rc == 0 && !is_serve)
        rc = -EINVAL, snprintf(err, sizeof(err), "no subcommand (serve)");
    if (rc == 0)
        return serve(cfg); /* cfg lives as long as the process: connections borrow its strings */
    if (rc < 0)
        fprintf(stderr, "wavemill-receiver: %s\n", err);
    wm_config_free(cfg);
    return rc < 0 ? 2 : 0;
}
