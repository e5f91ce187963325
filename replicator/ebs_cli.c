/* ebs_cli — `wavemill-receiver export-ebs`: exports a volume's committed
 * generation to an EBS snapshot (ebs_export.h), printing progress.
 *
 *   wavemill-receiver export-ebs --root DIR --volume NAME [--generation N]
 *       [--endpoint URL] [--ec2-endpoint URL] [--region R] [--inflight N]
 *       [--description TEXT] [--tag KEY=VALUE]... [--new-chain]
 *       [--attempts N] [--backoff-base MS] [--backoff-cap MS] [--timeout MS]
 *       [--wait S] [--json] [--log-level L]
 *
 * Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * else the instance role through IMDSv2 (common/awscred.h).  Exit 0 when
 * the snapshot is completed, 1 on failure, 2 on bad usage.  --json prints
 * one object per line: event "progress" (blocks, bytes, retries, rate_bps)
 * and one "done" (or "error") line. */
#include "ebs_cli.h"

#include "awscred.h"
#include "ebs_export.h"
#include "json.h"
#include "log.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cli {
    struct ebs_export_opts o;
    struct ebs_api_cfg cfg;
    int json;
    char tagbuf[EBS_MAX_TAGS][256];
};

static int usage(void)
{
    fprintf(stderr,
            "usage: wavemill-receiver export-ebs --root DIR --volume NAME [--generation N]\n"
            "         [--endpoint URL] [--ec2-endpoint URL] [--region R] [--inflight N]\n"
            "         [--description TEXT] [--tag KEY=VALUE]... [--new-chain]\n"
            "         [--attempts N] [--backoff-base MS] [--backoff-cap MS] [--timeout MS]\n"
            "         [--wait S] [--json] [--log-level L]\n");
    return 2;
}

static void on_progress(const struct ebs_export_progress *p, void *ud)
{
    const struct cli *c = ud;
    const struct ebs_upload_stats *s = &p->up;
    double rate = s->seconds > 0 ? (double)s->bytes / s->seconds : 0;
    if (c->json)
        printf("{\"event\":\"progress\",\"generation\":%" PRIu64 ",\"planned\":%" PRIu64
               ",\"resumed\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"retries\":%" PRIu64 ",\"rate_bps\":%.0f}\n",
               p->gen, p->planned, p->resumed, s->blocks, s->bytes, s->retries, rate);
    else
        fprintf(stderr, "\r%" PRIu64 " blocks, %.1f MiB, %.1f MiB/s ", s->blocks,
                (double)s->bytes / 1048576.0, rate / 1048576.0);
    fflush(stdout);
}

static int add_tag(struct cli *c, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || c->o.ntags >= EBS_MAX_TAGS - 2 || strlen(kv) >= 256)
        return -1;
    char *buf = c->tagbuf[c->o.ntags];
    snprintf(buf, 256, "%s", kv);
    buf[eq - kv] = '\0';
    c->o.tag_keys[c->o.ntags] = buf;
    c->o.tag_values[c->o.ntags++] = buf + (eq - kv) + 1;
    return 0;
}

static int parse(int argc, char **argv, struct cli *c)
{
    static const struct option opts[] = {
        {"root", 1, 0, 'r'},        {"volume", 1, 0, 'v'},       {"generation", 1, 0, 'g'},
        {"endpoint", 1, 0, 'e'},    {"ec2-endpoint", 1, 0, 'E'}, {"region", 1, 0, 'R'},
        {"inflight", 1, 0, 'n'},    {"description", 1, 0, 'd'},  {"tag", 1, 0, 't'},
        {"new-chain", 0, 0, 'N'},   {"attempts", 1, 0, 'a'},     {"backoff-base", 1, 0, 'b'},
        {"backoff-cap", 1, 0, 'c'}, {"timeout", 1, 0, 'T'},      {"wait", 1, 0, 'w'},
        {"json", 0, 0, 'j'},        {"log-level", 1, 0, 'L'},    {0, 0, 0, 0}};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        enum wm_log_level lv;
        switch (ch) {
        case 'r':
            c->o.root = optarg;
            break;
        case 'v':
            c->o.volume = optarg;
            break;
        case 'g':
            c->o.generation = strtoull(optarg, NULL, 10);
            break;
        case 'e':
            c->cfg.endpoint = optarg;
            break;
        case 'E':
            c->cfg.ec2_endpoint = optarg;
            break;
        case 'R':
            c->cfg.region = optarg;
            break;
        case 'n':
            c->o.inflight = atoi(optarg);
            break;
        case 'd':
            c->o.description = optarg;
            break;
        case 't':
            if (add_tag(c, optarg) < 0)
                return -1;
            break;
        case 'N':
            c->o.force_root = 1;
            break;
        case 'a':
            c->cfg.backoff.max_attempts = atoi(optarg);
            break;
        case 'b':
            c->cfg.backoff.base_ms = atol(optarg);
            break;
        case 'c':
            c->cfg.backoff.cap_ms = atol(optarg);
            break;
        case 'T':
            c->cfg.timeout_ms = atol(optarg);
            break;
        case 'w':
            c->o.wait_s = atoi(optarg);
            break;
        case 'j':
            c->json = 1;
            break;
        case 'L':
            if (wm_log_parse_level(optarg, &lv) < 0)
                return -1;
            wm_log_set_level(lv);
            break;
        default:
            return -1;
        }
    }
    if (!c->o.root || !c->o.volume || optind != argc || c->o.inflight < 0 ||
        c->o.inflight > EBS_UPLOAD_MAX_INFLIGHT || c->cfg.backoff.max_attempts < 0 ||
        c->cfg.backoff.max_attempts > WM_HTTP_MAX_ATTEMPTS)
        return -1;
    if (c->cfg.backoff.max_attempts > 0) { /* partial overrides keep the defaults */
        if (c->cfg.backoff.base_ms <= 0)
            c->cfg.backoff.base_ms = 200;
        if (c->cfg.backoff.cap_ms <= 0)
            c->cfg.backoff.cap_ms = 20000;
    }
    return 0;
}

static void print_done(const struct cli *c, const struct ebs_export_result *r)
{
    struct wm_json *j = wm_json_new();
    double rate = r->up.seconds > 0 ? (double)r->up.bytes / r->up.seconds : 0;
    wm_json_obj_begin(j);
    wm_json_kstr(j, "event", "done");
    wm_json_kstr(j, "volume", c->o.volume);
    wm_json_kint(j, "generation", (int64_t)r->gen);
    wm_json_kstr(j, "snapshot", r->snapshot);
    wm_json_kstr(j, "parent", r->parent);
    wm_json_kint(j, "parent_generation", (int64_t)r->parent_gen);
    wm_json_kint(j, "volume_size", (int64_t)r->volume_size);
    wm_json_kint(j, "changed_blocks", (int64_t)r->changed_blocks);
    wm_json_kint(j, "resumed_blocks", (int64_t)r->resumed_blocks);
    wm_json_kint(j, "blocks_put", (int64_t)r->up.blocks);
    wm_json_kint(j, "bytes_put", (int64_t)r->up.bytes);
    wm_json_kint(j, "retries", (int64_t)r->up.retries);
    wm_json_key(j, "seconds");
    wm_json_double(j, r->up.seconds);
    wm_json_kint(j, "rate_bps", (int64_t)rate);
    wm_json_kstr(j, "aggregate_checksum", r->aggregate_b64);
    wm_json_kbool(j, "already", r->already);
    wm_json_obj_end(j);
    if (c->json)
        printf("%s\n", wm_json_text(j));
    else
        fprintf(stderr,
                "\n%s generation %" PRIu64 " -> %s (parent %s): %" PRIu64 " blocks put, %" PRIu64
                " in the snapshot\n",
                c->o.volume, r->gen, r->snapshot, r->parent[0] ? r->parent : "none", r->up.blocks,
                r->changed_blocks);
    wm_json_free(j);
}

int ebs_cli_main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof(c));
    if (parse(argc, argv, &c) < 0)
        return usage();
    wm_log_set_component("receiver");
    c.o.progress = on_progress;
    c.o.ud = &c;
    c.o.progress_ms = 1000;
    char err[1024];
    struct wm_awscred cred;
    struct ebs_api api;
    struct ebs_export_result res;
    int rc = wm_awscred_resolve(&cred, err, sizeof(err));
    if (rc == 0)
        rc = ebs_api_init(&api, &c.cfg, &cred, err, sizeof(err));
    wm_awscred_clear(&cred);
    if (rc == 0) {
        rc = ebs_export_run(&api, &c.o, &res, err, sizeof(err));
        ebs_api_clear(&api);
    }
    if (rc < 0) {
        if (c.json) {
            struct wm_json *j = wm_json_new();
            wm_json_obj_begin(j);
            wm_json_kstr(j, "event", "error");
            wm_json_kstr(j, "error", err);
            wm_json_obj_end(j);
            printf("%s\n", wm_json_text(j));
            wm_json_free(j);
        }
        fprintf(stderr, "wavemill-receiver export-ebs: %s\n", err);
        return 1;
    }
    print_done(&c, &res);
    return 0;
}
