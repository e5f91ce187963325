/* cli_watch — `wavemill watch [--wave NAME] [--since DUR] [--lines] [--count N]
 *                              [--timeout S] [--json]`.
 *
 * Follows wm.status from now on: a consumer group of its own (unique per
 * run, so two operators watching do not split the events between them),
 * starting at the end of each partition, offsets never committed.  With
 * --since DUR (90s, 10m, 2h, 1d) it replays from that long ago instead:
 * partitions assigned by hand at the offsets of that time.
 *
 * On a terminal it shows a table (watch_table.c) redrawn in place: a line
 * per wave, a line per server with its lifecycle, step and a progress bar;
 * keys: w cycles the wave shown, a shows all, q quits.  When stdout is not
 * a terminal (or with --lines / --json) it prints one line per event;
 * progress events get a text bar.  Events from the sim driver are marked
 * [sim].  Stops on SIGINT/SIGTERM, q, after --count events (that passed
 * the --wave filter), or after --timeout seconds. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "clock.h"
#include "config.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "msg.h"
#include "watch_table.h"

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
    long since_s;              /* --since: replay from this long ago; 0 = from now */
    bool lines;                /* one line per event (not a terminal, --lines, --json) */
    struct watch_table *table; /* the terminal table, else NULL */
    bool dirty;
    int64_t drawn_ms;
    struct wm_kafka_consumer *c; /* from now on: a group of its own */
    rd_kafka_t *rk;              /* --since: partitions assigned by hand */
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
        if (w->table)
            w->dirty |= watch_table_apply(w->table, &m);
        else if (w->ctx->json)
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

/* A key pressed on the terminal: w next wave, a all, q quit. */
static void watch_keys(struct watch *w)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    char k;
    while (poll(&p, 1, 0) == 1 && read(STDIN_FILENO, &k, 1) == 1) {
        if (k == 'q')
            watch_stop = 1;
        else if (k == 'w')
            watch_table_next_wave(w->table);
        else if (k == 'a')
            watch_table_filter(w->table, NULL);
        w->dirty = true;
    }
}

static void watch_redraw(struct watch *w)
{
    int64_t now = wm_mono_ms();
    if (!w->table || !w->dirty || now - w->drawn_ms < 300)
        return;
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws);
    watch_table_draw(w->table, stdout, ws.ws_row ? ws.ws_row : 24, ws.ws_col ? ws.ws_col : 80);
    w->dirty = false;
    w->drawn_ms = now;
}

static rd_kafka_message_t *watch_poll(struct watch *w, const char *topic, const char *group)
{
    if (w->rk)
        return rd_kafka_consumer_poll(w->rk, WATCH_POLL_MS);
    rd_kafka_message_t *msg = wm_kafka_poll(w->c, WATCH_POLL_MS);
    note_ready(w, w->c, topic, group);
    return msg;
}

static int watch_loop(struct watch *w, const char *topic, const char *group)
{
    int64_t deadline = w->timeout_s ? wm_mono_ms() + w->timeout_s * 1000 : 0;
    while (!watch_stop) {
        if (deadline && wm_mono_ms() >= deadline)
            break;
        if (w->table)
            watch_keys(w);
        watch_redraw(w);
        rd_kafka_message_t *msg = watch_poll(w, topic, group);
        if (!msg)
            continue;
        if (handle(w, msg))
            w->seen++;
        rd_kafka_message_destroy(msg); /* never committed: this run's alone */
        if (w->count && w->seen >= w->count) {
            w->drawn_ms = 0;
            watch_redraw(w);
            return CLI_OK;
        }
    }
    w->drawn_ms = 0;
    watch_redraw(w);
    if (w->count && !watch_stop)
        return cli_error(w->ctx, "timed out after %ld s with %ld of %ld events", w->timeout_s,
                         w->seen, w->count);
    return CLI_OK;
}

/* "90s", "10m", "2h", "1d" -> seconds; -1 when malformed */
static long parse_ago(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    long mult = strcmp(end, "s") == 0 ? 1 : strcmp(end, "m") == 0 ? 60
                : strcmp(end, "h") == 0 ? 3600 : strcmp(end, "d") == 0 ? 86400 : -1;
    return end == s || n <= 0 || mult < 0 || n > 3650L * 86400 / mult ? -1 : n * mult;
}

static int parse(struct cli_ctx *ctx, int argc, char **argv, struct watch *w)
{
    const char *count = NULL, *timeout = NULL, *since = NULL, *pos[1];
    const struct cli_opt opts[] = {{"--wave", &w->wave, NULL},
                                   {"--count", &count, NULL},
                                   {"--timeout", &timeout, NULL},
                                   {"--since", &since, NULL},
                                   {"--lines", NULL, &w->lines}};
    int npos, rc = cli_args_parse(ctx, argc, argv, 1, opts, 5, pos, 0, &npos);
    if (rc == CLI_OK && since && (w->since_s = parse_ago(since)) < 0)
        rc = cli_usage_error(ctx, "--since '%s': give how long ago, like 90s, 10m, 2h, 1d", since);
    if (rc == CLI_OK && count)
        rc = cli_args_int(ctx, "--count", count, 1, 1000000000, &w->count);
    if (rc == CLI_OK && timeout)
        rc = cli_args_int(ctx, "--timeout", timeout, 1, 86400 * 365, &w->timeout_s);
    return rc;
}

/* --since: a consumer of its own with every partition assigned at the
 * offset of (now - since_s); NULL with err. */
static rd_kafka_t *watch_since(const struct wm_config *cfg, const char *topic, long since_s,
                               char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof(group), "wavemill-watch-since-%d", (int)getpid());
    if (rd_kafka_conf_set(conf, "bootstrap.servers", wm_config_str(cfg, "kafka.brokers"), err,
                          errlen) ||
        rd_kafka_conf_set(conf, "group.id", group, err, errlen) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
    rd_kafka_topic_destroy(t);
    rd_kafka_topic_partition_list_t *l = NULL;
    if (!e && md && md->topic_cnt == 1 && !md->topics[0].err) {
        l = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        int64_t at = wm_wall_ms() - (int64_t)since_s * 1000;
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(l, topic, p)->offset = at;
        e = rd_kafka_offsets_for_times(rk, l, 10000);
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (!e && l)
        e = rd_kafka_assign(rk, l);
    if (e || !l) {
        snprintf(err, errlen, "topic %s: %s", topic, e ? rd_kafka_err2str(e) : "not found");
        rd_kafka_destroy(rk);
        rk = NULL;
    }
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

/* Keys without Enter and without echo while the table is shown. */
static bool term_raw(struct termios *saved)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, saved) != 0)
        return false;
    struct termios raw = *saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    return tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
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
    if (w.since_s) {
        if (!(w.rk = watch_since(cfg, topic, w.since_s, err, sizeof(err))))
            return cli_error(ctx, "%s", err);
        fprintf(stderr, "watching %s from %lds ago%s\n", topic, w.since_s,
                w.count || w.timeout_s ? "" : "; Ctrl-C stops");
    } else if (!(w.c = wm_kafka_consumer_new(cfg, group, topics, 1, 1, err, sizeof(err)))) {
        return cli_error(ctx, "%s", err);
    }
    bool table = !w.lines && !ctx->json && isatty(STDOUT_FILENO);
    if (table && !(w.table = watch_table_new()))
        return cli_error(ctx, "out of memory");
    if (w.table && w.wave)
        watch_table_filter(w.table, w.wave);
    struct termios saved;
    bool raw = w.table && term_raw(&saved);
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line per event, also into a pipe */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    w.dirty = w.table != NULL;
    rc = watch_loop(&w, topic, group);
    if (raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    watch_table_free(w.table);
    if (w.rk) {
        rd_kafka_consumer_close(w.rk);
        rd_kafka_destroy(w.rk);
    }
    wm_kafka_consumer_free(w.c);
    return rc;
}
