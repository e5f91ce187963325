/* cli_args — see cli_args.h. */
#include "cli_args.h"

#include "action.h"
#include "kafka.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "log.h"
#include "pg.h"

/* Matches argv[*i] against name as "--name" or "--name=VALUE". */
static bool opt_match(const char *arg, const char *name, const char **inline_value)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return false;
    if (arg[n] == '\0') {
        *inline_value = NULL;
        return true;
    }
    if (arg[n] == '=') {
        *inline_value = arg + n + 1;
        return true;
    }
    return false;
}

static int take_option(struct cli_ctx *ctx, int argc, char **argv, int *i,
                       const struct cli_opt *o, const char *inline_value)
{
    if (o->flag) {
        if (inline_value)
            return cli_usage_error(ctx, "%s takes no value", o->name);
        *o->flag = true;
        return CLI_OK;
    }
    if (!inline_value) {
        if (*i + 1 >= argc)
            return cli_usage_error(ctx, "%s needs a value", o->name);
        inline_value = argv[++*i];
    }
    *o->value = inline_value;
    return CLI_OK;
}

int cli_args_parse(struct cli_ctx *ctx, int argc, char **argv, int first,
                   const struct cli_opt *opts, size_t nopts, const char **pos, int maxpos,
                   int *npos)
{
    *npos = 0;
    bool dashdash = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = true;
            continue;
        }
        if (dashdash || a[0] != '-' || a[1] == '\0') {
            if (*npos >= maxpos)
                return cli_usage_error(ctx, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            ctx->json = true;
            continue;
        }
        const struct cli_opt *o = NULL;
        const char *inl = NULL;
        for (size_t k = 0; k < nopts && !o; k++)
            if (opt_match(a, opts[k].name, &inl))
                o = &opts[k];
        if (!o)
            return cli_usage_error(ctx, "unknown option %s", a);
        int rc = take_option(ctx, argc, argv, &i, o, inl);
        if (rc != CLI_OK)
            return rc;
    }
    return CLI_OK;
}

int cli_args_name(struct cli_ctx *ctx, int argc, char **argv, const struct cli_opt *opts,
                  size_t nopts, const char *what, int maxlen, const char *usage, const char **name)
{
    int npos, rc = cli_args_parse(ctx, argc, argv, 2, opts, nopts, name, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(ctx, "which %s? (wavemill %s)", what, usage);
    if (strlen(*name) > (size_t)maxlen)
        return cli_usage_error(ctx, "%s name longer than %d bytes", what, maxlen);
    return CLI_OK;
}

int cli_args_int(struct cli_ctx *ctx, const char *opt, const char *text, long min, long max,
                 long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return cli_usage_error(ctx, "%s: '%s' is not a number from %ld to %ld", opt, text, min,
                               max);
    *out = v;
    return CLI_OK;
}

static int relative_time(const char *in, char *out, size_t outlen, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long long v = strtoll(in + 1, &end, 10);
    long long mult = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600
                   : *end == 'd' ? 86400 : 0;
    if (errno || end == in + 1 || !isdigit((unsigned char)in[1]) || !mult || end[1] ||
        v > 3650LL * 86400 / mult) {
        snprintf(err, errlen, "'%s' is not a relative time (+N followed by s, m, h or d)", in);
        return -EINVAL;
    }
    time_t t = time(NULL) + (time_t)(v * mult);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return 0;
}

/* ISO 8601 date and time, checked here so a typo is refused with a clear
 * message before it reaches the database. */
static bool looks_iso(const char *s)
{
    int y, mo, d, h, mi;
    char sep;
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &n) != 6 || n == 0)
        return false;
    if ((sep != 'T' && sep != ' ') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59)
        return false;
    for (const char *p = s + n; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr(":.+-Z", *p))
            return false;
    return true;
}

static bool has_offset(const char *s)
{
    const char *t = strpbrk(s, "T "); /* the time part: a '-' there is an offset */
    return t && ( strchr(t, 'Z') || strchr(t, '+') || strchr(t, '-'));
}

int cli_args_time(const char *in, char *out, size_t outlen, char *err, size_t errlen)
{
    if (in[0] == '+')
        return relative_time(in, out, outlen, err, errlen);
    if (strcmp(in, "now") == 0) {
        snprintf(out, outlen, "now");
        return 0;
    }
    if (!looks_iso(in) || strlen(in) > 40) {
        snprintf(err, errlen,
                 "'%s' is not a time (ISO 8601 like 2026-11-22T03:00:00Z, \"now\", or +10m)",
                 in);
        return -EINVAL;
    }
    snprintf(out, outlen, "%s%s", in, has_offset(in) ? "" : "Z");
    return 0;
}

const char *cli_line(const char *s, char *buf, size_t len)
{
    wm_redact(s ? s : "", buf, len);
    return buf;
}

const char *cli_fmt_bytes(int64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lld B", (long long)n);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

PGresult *cli_query(struct cli_ctx *ctx, const char *sql, int n, const char *const *params)
{
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return NULL;
    char err[1024];
    PGresult *r = wm_pg_query(db, sql, n, params, err, sizeof(err));
    if (!r)
        cli_error(ctx, "%s", err);
    return r;
}

const char *cli_val(const PGresult *r, int row, const char *col)
{
    int c = PQfnumber(r, col);
    if (c < 0 || PQgetisnull(r, row, c))
        return "";
    return PQgetvalue(r, row, c);
}

int64_t cli_int(const PGresult *r, int row, const char *col)
{
    return strtoll(cli_val(r, row, col), NULL, 10);
}

bool cli_isnull(const PGresult *r, int row, const char *col)
{
    int c = PQfnumber(r, col);
    return c < 0 || PQgetisnull(r, row, c);
}

int cli_action(struct cli_ctx *ctx, const char *name, const char *target,
               const struct action_params *p, struct action_result *res, char *err,
               size_t errlen)
{
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return -ENOTCONN;
    /* the change also goes out as news on wm.status; without Kafka it is
     * still done (and audited), the event is lost and a warning says so */
    struct wm_config *cfg = cli_config(ctx);
    char kerr[256], topic[256];
    struct wm_kafka_producer *prod = cfg ? wm_kafka_producer_new(cfg, kerr, sizeof(kerr)) : NULL;
    if (cfg && !prod)
        wm_warn("cli.no_status_events", "err=\"%s\"", kerr);
    struct action_who who = {"cli", cli_actor(), 0, prod,
                             cfg ? wm_kafka_topic(cfg, WM_TOPIC_STATUS, topic, sizeof(topic))
                                 : NULL};
    int rc = action_run(db, action_by_name(name), target, p, &who, res, err, errlen);
    if (prod && wm_kafka_flush(prod, 5000) < 0)
        wm_warn("cli.status_event_unsent", "action=%s", name);
    wm_kafka_producer_free(prod);
    return rc;
}

const char *cli_ops_actor(void)
{
    static char actor[96];
    snprintf(actor, sizeof(actor), "cli:%s", cli_actor());
    return actor;
}
