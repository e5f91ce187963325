/* wavemill-receiver — the replication target.
 *   wavemill-receiver serve [--config FILE] [--set key=value]...
 *                           [--listen HOST:PORT] [--root DIR] [--tls-dir DIR]
 *                           [--io-timeout MS] [--checkpoint-bytes N] [--checkpoint-ms MS]
 *                           [--log-level L]
 *   wavemill-receiver --version | --reference | --print-config | --check [--config FILE]
 * Every flag sets a key of the [receiver] section (see receiver_keys). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
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
};

static const struct wm_daemon_flag receiver_flags[] = {
    {"listen", "receiver.listen"},
    {"root", "receiver.root"},
    {"tls-dir", "receiver.tls_dir"},
    {"io-timeout", "receiver.io_timeout"},
    {"checkpoint-bytes", "receiver.checkpoint_bytes"},
    {"checkpoint-ms", "receiver.checkpoint_interval"},
    {"log-level", "log.level"},
};

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
        "usage: wavemill-receiver serve [--config FILE] [--set key=value]... [--listen HOST:PORT]\n"
        "         [--root DIR] [--tls-dir DIR] [--io-timeout MS] [--checkpoint-bytes N]\n"
        "         [--checkpoint-ms MS] [--log-level L]\n"
        "       wavemill-receiver --version | --reference | --print-config | --check "
        "[--config FILE]\n");
    return 2;
}

static int serve(const struct wm_config *cfg)
{
    struct receiver_opts o = {
        .root = wm_config_str(cfg, "receiver.root"),
        .io_timeout_ms = (int)wm_config_int(cfg, "receiver.io_timeout"),
        .ckpt_bytes = (uint64_t)wm_config_int(cfg, "receiver.checkpoint_bytes"),
        .ckpt_ms = (int)wm_config_int(cfg, "receiver.checkpoint_interval"),
    };
    const char *listen_on = wm_config_str(cfg, "receiver.listen");
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char err[512];
    o.tls = wm_tls_ctx_new(wm_config_str(cfg, "receiver.tls_dir"), WM_TLS_SERVER, err, sizeof(err));
    struct receiver *r = o.tls ? receiver_new(&o, err, sizeof(err)) : NULL;
    int lfd = r ? wm_tcp_listen(listen_on, 128, err, sizeof(err)) : -1;
    if (lfd < 0) {
        fprintf(stderr, "wavemill-receiver: %s\n", err);
        return 1;
    }
    wm_info("repl.listening", "listen=%s root=%s", listen_on, o.root);
    int rc = receiver_serve(r, lfd, &stop_flag);
    close(lfd);
    wm_info("repl.stopped", "rc=%d", rc);
    /* connections still running after the grace time keep what they use */
    if (receiver_drain(r, 5000) == 0) {
        receiver_free(r);
        wm_tls_ctx_free(o.tls);
    }
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
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
