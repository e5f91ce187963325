/* cli_watch — `wavemill watch [--wave NAME] [--count N] [--timeout S] [--json]`.
 *
 * Follows wm.status from now on: a consumer group of its own (unique per
 * run, so two operators watching do not split the events between them),
 * starting at the end of each partition, offsets never committed.  One
 * line per event; progress events get a text bar.  Events from the sim
 * driver are marked [sim].  Stops on SIGINT/SIGTERM, after --count events
 * (that passed the --wave filter), or after --timeout seconds. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "clock.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "msg.h"

#define WATCH_POLL_MS 200
#define WATCH_BAR 20

static volatile sig_atomic_t watch_stop;

static void on_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

/* "[#########...........]  42% 1.2 GiB/2.9 GiB" */
static void fmt_progress(const struct wm_status_msg *m, char *buf, size_t len)
{
    char done[32], total[32], bar[WATCH_BAR + 1];
    int64_t tot = m->bytes_total, dn = m->bytes_done < 0 ? 0 : m->bytes_done;
    int pct = tot > 0 ? (int)((dn > tot ? tot : dn) * 100 / tot) : 0;
    int fill = tot > 0 ? pct * WATCH_BAR / 100 : 0;
    for (int i = 0; i < WATCH_BAR; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WATCH_BAR] = '\0';
    cli_fmt_bytes(dn, done, sizeof(done));
    if (tot > 0)
        snprintf(buf, len, "[%s] %3d%% %s/%s", bar, pct, done,
                 cli_fmt_bytes(tot, total, sizeof(total)));
    else
        snprintf(buf, len, "[%s]   ?%% %s", bar, done);
}

static void print_line(const struct wm_status_msg *m)
{
    char when[40], what[160], where[300], msg[512] = "";
    fmt_time(m->time_ms, when, sizeof(when));
    snprintf(where, sizeof(where), "%s%s%s", m->wave ? m->wave : "-", m->server ? "/" : "",
             m->server ? m->server : "");
    const char *type = m->type ? m->type : "?";
    if (strcmp(type, "progress") == 0) {
        char bar[128];
        fmt_progress(m, bar, sizeof(bar));
        snprintf(what, sizeof(what), "%s#%d %s", m->task_kind ? m->task_kind : "?", m->attempt,
                 bar);
    } else if (strcmp(type, "task") == 0) {
        snprintf(what, sizeof(what), "%s#%d %s", m->task_kind ? m->task_kind : "?", m->attempt,
                 m->state ? m->state : "?");
    } else {
        snprintf(what, sizeof(what), "%s %s", type, m->state ? m->state : "?");
    }
    if (m->message && *m->message)
        wm_redact(m->message, msg, sizeof(msg)); /* one line, no secrets */
    printf("%s  %-28s %s%s%s  (%s)%s\n", when, where, what, *msg ? ": " : "", msg,
           m->source ? m->source : "?", m->simulated ? " [sim]" : "");
}

static void print_json(const struct wm_status_msg *m)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kstr(j, "event_id", m->event_id);
    wm_json_kint(j, "time_ms", m->time_ms);
    wm_json_kstr(j, "source", m->source);
    wm_json_kstr(j, "type", m->type);
    wm_json_kstr(j, "wave", m->wave);
    wm_json_kstr(j, "server", m->server);
    wm_json_kint(j, "task_id", m->task_id);
    wm_json_kstr(j, "task_kind", m->task_kind);
    wm_json_kint(j, "attempt", m->attempt);
    wm_json_kstr(j, "state", m->state);
    wm_json_kint(j, "bytes_done", m->bytes_done);
    wm_json_kint(j, "bytes_total", m->bytes_total);
    wm_json_kstr(j, "message", m->message);
    wm_json_kbool(j, "simulated", m->simulated);
    wm_json_obj_end(j);
    if (wm_json_error(j) == 0)
        puts(wm_json_text(j));
    wm_json_free(j);
}

struct watch {
    struct cli_ctx *ctx;
    const char *wave;
    long count, timeout_s;
    long seen;
    bool ready;
};

/* Handles one message; returns true when it was an event that counted. */
static bool handle(struct watch *w, const rd_kafka_message_t *msg)
{
    if (msg->err)
        return false;
    struct wm_status_msg m;
    char err[256];
    if (wm_status_msg_decode(msg->payload, msg->len, &m, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: watch: undecodable message at partition %d offset %" PRId64
                        ": %s\n",
                w->ctx->prog, (int)msg->partition, (int64_t)msg->offset, err);
        return false;
    }
    bool show = !w->wave || (m.wave && strcmp(m.wave, w->wave) == 0);
    if (show) {
        if (w->ctx->json)
            print_json(&m);
        else
            print_line(&m);
    }
    wm_status_msg_clear(&m);
    return show;
}

/* Says once on stderr that partitions are assigned: events from here on
 * are seen (scripts wait for this line before producing). */
static void note_ready(struct watch *w, struct wm_kafka_consumer *c, const char *topic,
                       const char *group)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (w->ready || rd_kafka_assignment(wm_kafka_consumer_handle(c), &parts) != 0)
        return;
    if (parts && parts->cnt > 0) {
        w->ready = true;
        fprintf(stderr, "watching %s (group %s, %d partitions)%s\n", topic, group, parts->cnt,
                w->count || w->timeout_s ? "" : "; Ctrl-C stops");
    }
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
}

static int watch_loop(struct watch *w, struct wm_kafka_consumer *c, const char *topic,
                      const char *group)
{
    int64_t deadline = w->timeout_s ? wm_mono_ms() + w->timeout_s * 1000 : 0;
    while (!watch_stop) {
        if (deadline && wm_mono_ms() >= deadline)
            break;
        rd_kafka_message_t *msg = wm_kafka_poll(c, WATCH_POLL_MS);
        note_ready(w, c, topic, group);
        if (!msg)
            continue;
        if (handle(w, msg))
            w->seen++;
        wm_kafka_message_free(msg); /* never committed: the group is this run's alone */
        if (w->count && w->seen >= w->count)
            return CLI_OK;
    }
    if (w->count && !watch_stop)
        return cli_error(w->ctx, "timed out after %ld s with %ld of %ld events", w->timeout_s,
                         w->seen, w->count);
    return CLI_OK;
}

static int parse(struct cli_ctx *ctx, int argc, char **argv, struct watch *w)
{
    const char *count = NULL, *timeout = NULL, *pos[1];
    const struct cli_opt opts[] = {
        {"--wave", &w->wave, NULL}, {"--count", &count, NULL}, {"--timeout", &timeout, NULL}};
    int npos, rc = cli_args_parse(ctx, argc, argv, 1, opts, 3, pos, 0, &npos);
    if (rc == CLI_OK && count)
        rc = cli_args_int(ctx, "--count", count, 1, 1000000000, &w->count);
    if (rc == CLI_OK && timeout)
        rc = cli_args_int(ctx, "--timeout", timeout, 1, 86400 * 365, &w->timeout_s);
    return rc;
}

int cli_watch(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "watch";
    struct watch w = {.ctx = ctx};
    int rc = parse(ctx, argc, argv, &w);
    if (rc != CLI_OK)
        return rc;
    struct wm_config *cfg = cli_config(ctx);
    if (!cfg)
        return CLI_ERR;
    char topic[256], group[128], host[64] = "host", err[512];
    wm_kafka_topic(cfg, WM_TOPIC_STATUS, topic, sizeof(topic));
    gethostname(host, sizeof(host) - 1);
    snprintf(group, sizeof(group), "wavemill-watch-%s-%d-%lld", host, (int)getpid(),
             (long long)time(NULL));
    const char *topics[] = {topic};
    struct wm_kafka_consumer *c = wm_kafka_consumer_new(cfg, group, topics, 1, 1, err,
                                                        sizeof(err));
    if (!c)
        return cli_error(ctx, "%s", err);
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line per event, also into a pipe */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = watch_loop(&w, c, topic, group);
    wm_kafka_consumer_free(c);
    return rc;
}
