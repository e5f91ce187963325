/* wavemill-receiver — the replication target.
 *   wavemill-receiver serve --listen HOST:PORT --root DIR --tls-dir DIR
 *                           [--io-timeout MS] [--checkpoint-bytes N] [--checkpoint-ms MS]
 *                           [--grace-ms MS] [--max-startups N] [--max-per-peer N]
 *                           [--max-conns N] [--max-volume-size SIZE]
 *                           [--require-bound-agents] [--max-streams N]
 *                           [--max-memory BYTES] [--max-files N] [--log-level L]
 * The bounds against unauthenticated clients are described in guard.h,
 * the volume size bound in rspace.h, the capacity beyond which agents are
 * told BUSY in admit.h.  --require-bound-agents refuses agent
 * certificates that name no volumes (pki.h: one identity per source).
 * --control HOST:PORT opens the receiver's control port (EBS exports,
 * ebs_control.h).
 *   wavemill-receiver export-ebs ...   (ebs_cli.c) */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "control.h"
#include "ebs_cli.h"
#include "log.h"
#include "ratelimit.h"
#include "receiver.h"
#include "tls.h"

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
        "usage: wavemill-receiver serve --listen HOST:PORT --root DIR --tls-dir DIR\n"
        "         [--io-timeout MS] [--checkpoint-bytes N] [--checkpoint-ms MS]\n"
        "         [--grace-ms MS] [--max-startups N] [--max-per-peer N] [--max-conns N]\n"
        "         [--max-volume-size SIZE (e.g. 4T)] [--require-bound-agents]\n"
        "         [--max-streams N] [--max-memory BYTES] [--max-files N] [--log-level L]\n"
        "         [--control HOST:PORT]\n"
        "       wavemill-receiver export-ebs --root DIR --volume NAME ... (--help)\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "export-ebs") == 0)
        return ebs_cli_main(argc, argv);
    if (argc < 2 || strcmp(argv[1], "serve") != 0)
        return usage();
    static const struct option opts[] = {{"listen", 1, 0, 'l'},
                                         {"root", 1, 0, 'r'},
                                         {"tls-dir", 1, 0, 't'},
                                         {"io-timeout", 1, 0, 'i'},
                                         {"checkpoint-bytes", 1, 0, 'c'},
                                         {"checkpoint-ms", 1, 0, 'm'},
                                         {"log-level", 1, 0, 'L'},
                                         {"grace-ms", 1, 0, 'g'},
                                         {"max-startups", 1, 0, 's'},
                                         {"max-per-peer", 1, 0, 'p'},
                                         {"max-conns", 1, 0, 'n'},
                                         {"max-volume-size", 1, 0, 'V'},
                                         {"require-bound-agents", 0, 0, 'B'},
                                         {"max-streams", 1, 0, 'S'},
                                         {"max-memory", 1, 0, 'M'},
                                         {"max-files", 1, 0, 'F'},
                                         {"control", 1, 0, 'C'},
                                         {0, 0, 0, 0}};
    struct receiver_opts o = {.io_timeout_ms = 60000};
    const char *listen_on = NULL, *tls_dir = NULL, *control_on = NULL;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        enum wm_log_level lv;
        int64_t vmax;
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
        case 'g':
            o.grace_ms = atoi(optarg);
            break;
        case 's':
            o.max_startups = atoi(optarg);
            break;
        case 'p':
            o.max_per_peer = atoi(optarg);
            break;
        case 'n':
            o.max_conns = atoi(optarg);
            break;
        case 'V':
            if ((vmax = ratelimit_parse(optarg)) <= 0)
                return usage();
            o.max_volume = (uint64_t)vmax;
            break;
        case 'B':
            o.require_bound = true;
            break;
        case 'S':
            o.capacity.streams = atoi(optarg);
            break;
        case 'M':
            o.capacity.mem_bytes = strtoull(optarg, NULL, 10);
            break;
        case 'F':
            o.capacity.files = atoi(optarg);
            break;
        case 'C':
            control_on = optarg;
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
    if (wm_daemon_harden(err, sizeof(err)) < 0)
        wm_warn("repl.harden_failed", "err=\"%s\"", err);
    o.tls = wm_tls_own_cert_valid(tls_dir, err, sizeof(err)) == 0
                ? wm_tls_ctx_new(tls_dir, WM_TLS_SERVER, err, sizeof(err))
                : NULL;
    struct receiver *r = o.tls ? receiver_new(&o, err, sizeof(err)) : NULL;
    int lfd = r ? wm_tcp_listen(listen_on, 1024, err, sizeof(err)) : -1;
    if (lfd < 0) {
        fprintf(stderr, "wavemill-receiver: %s\n", err);
        return 1;
    }
    struct admit_stats ld;
    receiver_load(r, &ld);
    wm_info("repl.listening", "listen=%s root=%s max_streams=%d max_files=%d", listen_on, o.root,
            ld.streams_cap, ld.files_cap);
    if (control_on && receiver_control_start(control_on, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-receiver: %s\n", err);
        return 1;
    }
    int rc = receiver_serve(r, lfd, &stop_flag);
    close(lfd);
    receiver_load(r, &ld);
    wm_info("repl.stopped", "rc=%d streams_peak=%d busy_answers=%llu", rc, ld.streams_peak,
            (unsigned long long)ld.busy);
    /* connections still running after the grace time keep what they use */
    if (receiver_drain(r, 5000) == 0) {
        receiver_free(r);
        wm_tls_ctx_free(o.tls);
    }
    return rc < 0 ? 1 : 0;
}
