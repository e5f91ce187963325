/* wavemill-agent — the replication source.
 *   wavemill-agent sync   --disk PATH --volume NAME --to HOST:PORT --tls-dir DIR
 *                         [--streams N] [--block-size BYTES] [--zstd-level L]
 *                         [--bwlimit RATE] [--full] [--progress] [--json] [--state-dir DIR]
 *                         [--busy-wait SECONDS]
 *   wavemill-agent verify --disk PATH --volume NAME --to HOST:PORT --tls-dir DIR [--sha256]
 *   wavemill-agent serve  [--config FILE] [--set key=value]... [--listen HOST:PORT]
 *                         [--tls-dir DIR] [--state-dir DIR]   (the [agent] section)
 *   wavemill-agent --version | --reference | --print-config | --check [--config FILE] */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "daemon.h"
#include "log.h"
#include "ratelimit.h"
#include "sync.h"
#include "tls.h"
#include "verify.h"

struct agent_args {
    struct sync_opts so;
    const char *tls_dir;
    int progress, json, sha256;
    char state_dir[4096];
};

static int usage(void)
{
    fprintf(stderr,
            "usage: wavemill-agent sync --disk PATH --volume NAME --to HOST:PORT --tls-dir DIR\n"
            "           [--streams N (default 2 on 2+ cores)] [--block-size BYTES (4096)]\n"
            "           [--zstd-level L (1)] [--bwlimit RATE (e.g. 10M)]\n"
            "           [--full] [--progress] [--json] [--state-dir DIR]\n"
            "           [--busy-wait SECONDS (3600: longest wait for a busy receiver)]\n"
            "       wavemill-agent verify --disk PATH --volume NAME --to HOST:PORT --tls-dir DIR "
            "[--sha256]\n"
            "       wavemill-agent serve [--config FILE] [--set key=value]... [--listen HOST:PORT]\n"
            "           [--tls-dir DIR] [--state-dir DIR] [--log-level L]\n"
            "       wavemill-agent --version | --reference | --print-config | --check "
            "[--config FILE]\n");
    return 2;
}

static void print_progress(const struct proto_progress *p, int final, void *ud)
{
    const struct agent_args *a = ud;
    if (a->json) {
        printf("{\"event\":\"%s\",\"volume\":\"%s\",\"generation\":%" PRIu64
               ",\"bytes_scanned\":%" PRIu64 ",\"bytes_total\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
               ",\"bytes_wire\":%" PRIu64 ",\"rate_bps\":%" PRIu64 ",\"eta_s\":%" PRIu64
               ",\"waiting\":%" PRIu32 "}\n",
               final ? "done" : "progress", a->so.volume, p->gen, p->scanned, p->total, p->sent,
               p->wire, p->rate, p->eta_s, p->waiting);
        fflush(stdout);
    }
    if (a->progress && p->waiting && !final)
        fprintf(stderr, "gen %" PRIu64 ": waiting for receiver capacity (%" PRIu32 " waiting)\n",
                p->gen, p->waiting);
    else if (a->progress)
        fprintf(stderr,
                "gen %" PRIu64 ": scanned %.1f/%.1f MiB (%.0f%%), sent %.1f MiB, wire %.1f MiB, "
                "%.1f MiB/s, eta %" PRIu64 "s%s\n",
                p->gen, p->scanned / 1048576.0, p->total / 1048576.0,
                p->total ? 100.0 * (double)p->scanned / (double)p->total : 100.0,
                p->sent / 1048576.0, p->wire / 1048576.0, p->rate / 1048576.0, p->eta_s,
                final ? " (committed)" : "");
}

static int parse_args(int argc, char **argv, struct agent_args *a)
{
    static const struct option opts[] = {{"disk", 1, 0, 'd'},
                                         {"volume", 1, 0, 'v'},
                                         {"to", 1, 0, 't'},
                                         {"tls-dir", 1, 0, 'T'},
                                         {"streams", 1, 0, 's'},
                                         {"block-size", 1, 0, 'b'},
                                         {"zstd-level", 1, 0, 'z'},
                                         {"bwlimit", 1, 0, 'w'},
                                         {"full", 0, 0, 'f'},
                                         {"progress", 0, 0, 'p'},
                                         {"json", 0, 0, 'j'},
                                         {"state-dir", 1, 0, 'S'},
                                         {"sha256", 0, 0, 'H'},
                                         {"io-timeout", 1, 0, 'i'},
                                         {"retries", 1, 0, 'r'},
                                         {"busy-wait", 1, 0, 'B'},
                                         {0, 0, 0, 0}};
    int c;
    int64_t v;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->so.disk = optarg;
            break;
        case 'v':
            a->so.volume = optarg;
            break;
        case 't':
            a->so.to = optarg;
            break;
        case 'T':
            a->tls_dir = optarg;
            break;
        case 's':
            a->so.streams = (uint16_t)atoi(optarg);
            break;
        case 'b':
            a->so.bs = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'z':
            a->so.level = atoi(optarg);
            break;
        case 'w':
            if ((v = ratelimit_parse(optarg)) < 0)
                return -1;
            a->so.bwlimit = (uint64_t)v;
            break;
        case 'f':
            a->so.full = 1;
            break;
        case 'p':
            a->progress = 1;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'S':
            snprintf(a->state_dir, sizeof(a->state_dir), "%s", optarg);
            break;
        case 'H':
            a->sha256 = 1;
            break;
        case 'i':
            a->so.io_timeout_ms = atoi(optarg);
            break;
        case 'r':
            a->so.max_failures = atoi(optarg);
            break;
        case 'B':
            a->so.busy_wait_ms = atoi(optarg) * 1000;
            if (a->so.busy_wait_ms < 0 || atoi(optarg) > 30 * 24 * 3600)
                return -1;
            break;
        default:
            return -1;
        }
    }
    uint32_t bs = a->so.bs;
    if (optind != argc || a->so.streams < 1 || a->so.streams > PROTO_MAX_RANGES || bs < 512 ||
        bs > (1u << 20) || (bs & (bs - 1)) || a->so.level < 1 || a->so.level > 19 ||
        a->so.max_failures < 1)
        return -1;
    if (!a->state_dir[0])
        snprintf(a->state_dir, sizeof(a->state_dir), "%s/.cache/wavemill/agent",
                 getenv("HOME") ? getenv("HOME") : "/tmp");
    a->so.state_dir = a->state_dir;
    return 0;
}

static int cmd_sync(struct agent_args *a)
{
    char err[512];
    struct sync_result r;
    if (a->progress || a->json) {
        a->so.progress = print_progress;
        a->so.ud = a;
    }
    int rc = sync_run(&a->so, &r, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "wavemill-agent: sync of %s failed: %s\n", a->so.volume, err);
        if (a->json)
            printf("{\"event\":\"error\",\"volume\":\"%s\",\"error\":\"%s\"}\n", a->so.volume,
                   strerror(-rc));
        return 1;
    }
    if (a->json && r.resumed)
        printf("{\"event\":\"resume_check\",\"volume\":\"%s\",\"bytes_read\":%" PRIu64
               ",\"bytes_resent\":%" PRIu64 ",\"streams_ms\":%" PRIu64 "}\n",
               a->so.volume, r.recheck_read, r.recheck_sent, r.recheck_ms);
    wm_info("repl.sync_done",
            "volume=%s gen=%" PRIu64 " mode=%s resumed=%d fetched_map=%d sent=%" PRIu64
            " wire=%" PRIu64 " recheck_read=%" PRIu64 " recheck_resent=%" PRIu64
            " busy_waits=%" PRIu32 " ms_begin=%" PRIu32 " ms_maps=%" PRIu32 " ms_streams=%" PRIu32
            " ms_commit=%" PRIu32 " ms_keep=%" PRIu32,
            a->so.volume, r.gen, r.mode == PROTO_MODE_FULL ? "full" : "delta", r.resumed,
            r.fetched_map, r.prog.sent, r.prog.wire, r.recheck_read, r.recheck_sent, r.busy_waits,
            r.phase_ms[SYNC_PH_BEGIN], r.phase_ms[SYNC_PH_MAPS], r.phase_ms[SYNC_PH_STREAMS],
            r.phase_ms[SYNC_PH_COMMIT], r.phase_ms[SYNC_PH_KEEP]);
    return 0;
}

static int cmd_verify(struct agent_args *a)
{
    char err[512];
    struct verify_result r;
    int rc = verify_run(&a->so, a->sha256, &r, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "wavemill-agent: verify of %s failed: %s\n", a->so.volume, err);
        return 2;
    }
    if (rc == 0)
        printf("verify %s: OK, generation %" PRIu64 ", %" PRIu64 " blocks equal%s\n", a->so.volume,
               r.gen, r.blocks, a->sha256 ? ", sha256 equal" : "");
    else
        printf("verify %s: DIFFERENT, generation %" PRIu64 ": size %" PRIu64 " vs %" PRIu64
               ", %" PRIu64 " of %" PRIu64 " blocks differ (first at offset %" PRIu64 ")%s\n",
               a->so.volume, r.gen, r.size_dst, r.size_src, r.mismatched, r.blocks,
               r.first_mismatch, a->sha256 && !r.sha_equal ? ", sha256 differs" : "");
    return rc;
}

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* The resident agent's settings: the [agent] section, or its flags. */
static const struct wm_config_key agent_keys[] = {
    {"agent.listen", WM_CFG_STRING, "0.0.0.0:7480", 0, 0, true,
     "HOST:PORT of the control port the workers call (their repl.agent_port)"},
    {"agent.tls_dir", WM_CFG_STRING, "/etc/wavemill/tls/agent", 0, 0, true,
     "certificate folder (wavemill pki issue --role agent): ca.crt, cert.pem, key.pem"},
    {"agent.state_dir", WM_CFG_STRING, "/var/lib/wavemill/agent", 0, 0, true,
     "folder of the digest maps and resume state"},
};

static const struct wm_daemon_flag agent_flags[] = {
    {"listen", "agent.listen", NULL},
    {"tls-dir", "agent.tls_dir", NULL},
    {"state-dir", "agent.state_dir", NULL},
    {"log-level", "log.level", NULL},
};

static int cmd_serve(const struct wm_config *cfg)
{
    char err[512];
    const char *listen_on = wm_config_str(cfg, "agent.listen");
    const char *tls_dir = wm_config_str(cfg, "agent.tls_dir");
    if (wm_daemon_harden(err, sizeof(err)) < 0)
        wm_warn("repl.harden_failed", "err=\"%s\"", err);
    struct control_opts co = {.state_dir = wm_config_str(cfg, "agent.state_dir"),
                              .progress_ms = 1000};
    co.server_tls = wm_tls_own_cert_valid(tls_dir, err, sizeof(err)) == 0
                        ? wm_tls_ctx_new(tls_dir, WM_TLS_SERVER, err, sizeof(err))
                        : NULL;
    if (co.server_tls)
        co.client_tls = wm_tls_ctx_new(tls_dir, WM_TLS_CLIENT, err, sizeof(err));
    int lfd = co.client_tls ? wm_tcp_listen(listen_on, 64, err, sizeof(err)) : -1;
    if (lfd < 0) {
        fprintf(stderr, "wavemill-agent: %s\n", err);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    wm_info("repl.agent_listening", "listen=%s", listen_on);
    int rc = control_serve(&co, lfd, &stop_flag);
    close(lfd);
    return rc < 0 ? 1 : 0;
}

/* "serve" and the program-wide options (--version, --reference, ...) go
 * through the shared configuration start-up. */
static int main_config(int argc, char **argv)
{
    bool is_serve = strcmp(argv[1], "serve") == 0;
    char err[1024] = "";
    struct wm_config *cfg = wm_config_new_bare();
    if (!cfg ||
        wm_config_declare(cfg, agent_keys, sizeof(agent_keys) / sizeof(agent_keys[0]), err,
                          sizeof(err)) < 0) {
        fprintf(stderr, "wavemill-agent: %s\n", err);
        return 1;
    }
    int rc = wm_daemon_config_flags(cfg, is_serve ? argc - 1 : argc, is_serve ? argv + 1 : argv,
                                    "wavemill-agent", agent_flags,
                                    sizeof(agent_flags) / sizeof(agent_flags[0]), err, sizeof(err));
    if (rc == 0 && !is_serve)
        rc = -EINVAL, snprintf(err, sizeof(err), "no subcommand (sync, verify, serve)");
    if (rc == 0)
        return cmd_serve(cfg); /* cfg lives as long as the process */
    if (rc < 0)
        fprintf(stderr, "wavemill-agent: %s\n", err);
    wm_config_free(cfg);
    return rc < 0 ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct agent_args a = {0};
    sync_opts_defaults(&a.so);
    wm_log_set_component("agent");
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && (strcmp(argv[1], "serve") == 0 || argv[1][0] == '-'))
        return main_config(argc, argv);
    if (argc < 2 || parse_args(argc, argv, &a) < 0 || !a.tls_dir)
        return usage();
    const char *cmd = argv[1];
    if (!a.so.disk || !a.so.volume || !a.so.to)
        return usage();
    char err[512];
    a.so.tls = wm_tls_ctx_new(a.tls_dir, WM_TLS_CLIENT, err, sizeof(err));
    if (!a.so.tls) {
        fprintf(stderr, "wavemill-agent: %s\n", err);
        return 2;
    }
    int rc = strcmp(cmd, "sync") == 0     ? cmd_sync(&a)
             : strcmp(cmd, "verify") == 0 ? cmd_verify(&a)
                                          : usage();
    wm_tls_ctx_free(a.so.tls);
    return rc;
}
