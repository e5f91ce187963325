/* sched_outbox — outbox publisher (see sched_outbox.h). */
#include "sched_outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "msg.h"
#include "sched_sql.h"
#include "pg.h"
#include "pgarr.h"
#include "pgprep.h"

enum { O_ID, O_TASK, O_ATTEMPT, O_TOPIC, O_WAVE_ID, O_WAVE, O_SERVER_ID, O_SERVER, O_KIND,
       O_LIVE, O_PARAMS, O_PROVIDER, O_TRANSPORT, O_REPLICATION, O_DEADLINE, O_INVENTORY };

static const char SQL_OUTBOX[] =
    "SELECT o.id, o.task_id, o.attempt, o.topic, t.wave_id, w.name, t.server_id, s.name,"
    " t.kind, (t.state = 'QUEUED' AND t.attempt = o.attempt), t.params::text,"
    " s.target_provider, coalesce((w.settings || s.settings)->>'transport', ''),"
    " coalesce((w.settings || s.settings)->>'replication', ''),"
    " coalesce(floor(extract(epoch FROM t.deadline) * 1000)::bigint, 0),"
    /* what a provider driver needs of the inventory (see outbox_inventory) */
    " s.fqdn, s.instance_type, s.subnet_id, array_to_string(s.security_group_ids, ','),"
    " array_to_string(s.test_security_group_ids, ','), s.tags::text,"
    " coalesce((w.settings || s.settings)->>'exec_script', ''), coalesce((w.settings || "
    "s.settings)->>'exec_timeout_s', '')"
    " FROM task_outbox o JOIN tasks t ON t.id = o.task_id JOIN servers s ON s.id = t.server_id"
    " JOIN waves w ON w.id = t.wave_id WHERE t.wave_id = ANY($1::bigint[])"
    " AND t.id = ANY (ARRAY(SELECT task_id FROM task_outbox))" /* small: drive from it */
    " ORDER BY o.id LIMIT $2::int";

/* Driver choice travels with the task: a sim server is sim all the way;
 * otherwise servers.settings may name transport / replication drivers. */
static size_t outbox_params(const PGresult *r, int i, struct wm_kv *kv)
{
    const char *prov = PQgetvalue(r, i, O_PROVIDER);
    bool sim = strcmp(prov, "sim") == 0;
    const char *tr = PQgetvalue(r, i, O_TRANSPORT), *rep = PQgetvalue(r, i, O_REPLICATION);
    size_t n = 0;
    kv[n++] = (struct wm_kv){"provider", (char *)prov};
    kv[n++] = (struct wm_kv){"transport", (char *)(*tr ? tr : sim ? "sim" : "ssh")};
    kv[n++] = (struct wm_kv){"replication", (char *)(*rep ? rep : sim ? "sim" : "wavemill")};
    const char *params = PQgetvalue(r, i, O_PARAMS);
    if (strcmp(params, "{}") != 0)
        kv[n++] = (struct wm_kv){"params_json", (char *)params};
    return n;
}

/* The inventory facts a provider step works from (the exec provider's
 * documented params), non-empty ones only; a sim server needs none. */
static size_t outbox_inventory(const PGresult *r, int i, struct wm_kv *kv)
{
    static const char *const keys[] = {"fqdn", "instance_type", "subnet_id",
                                       "security_group_ids", "test_security_group_ids", "tags",
                                       "exec_script", "exec_timeout_s"};
    size_t n = 0;
    if (strcmp(PQgetvalue(r, i, O_PROVIDER), "sim") == 0)
        return 0;
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        const char *v = PQgetvalue(r, i, O_INVENTORY + (int)k);
        if (*v && strcmp(v, "{}") != 0)
            kv[n++] = (struct wm_kv){(char *)keys[k], (char *)v};
    }
    return n;
}

static int outbox_send_one(struct wm_kafka_producer *p, const struct wm_config *cfg,
                           const PGresult *r, int i, int64_t now, char *err, size_t errlen)
{
    struct wm_kv kv[12];
    struct wm_task_msg m = {
        .task_id = sched_get_i64(r, i, O_TASK),
        .attempt = (int32_t)sched_get_i64(r, i, O_ATTEMPT),
        .wave_id = sched_get_i64(r, i, O_WAVE_ID),
        .wave = PQgetvalue(r, i, O_WAVE),
        .server_id = sched_get_i64(r, i, O_SERVER_ID),
        .server = PQgetvalue(r, i, O_SERVER),
        .kind = PQgetvalue(r, i, O_KIND),
        .params = kv,
        .deadline_ms = sched_get_i64(r, i, O_DEADLINE),
        .published_ms = now,
    };
    m.nparams = outbox_params(r, i, kv);
    m.nparams += outbox_inventory(r, i, kv + m.nparams);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wm_task_msg_encode(&m, &buf, &len, err, errlen);
    if (rc < 0)
        return rc;
    char topic[256];
    wm_kafka_topic(cfg, PQgetvalue(r, i, O_TOPIC), topic, sizeof(topic));
    const char *key = PQgetvalue(r, i, O_SERVER_ID);
    rc = wm_kafka_send(p, topic, key, strlen(key), buf, len, NULL, 0, err, errlen);
    free(buf);
    return rc;
}

/* Deletes the rows (all of them, or only the stale ones).  tasks rows are
 * not touched here: the worker's claim records published_at from the
 * message, so the publisher never competes with claims for row locks. */
static int outbox_finish(struct wm_pg *db, const char *rows, char *err, size_t errlen)
{
    const char *p[] = {rows};
    return sched_exec(db, "outbox delete", "DELETE FROM task_outbox WHERE id = ANY($1::bigint[])",
                     1, p, NULL, err, errlen);
}

struct outbox_lists {
    struct wm_pgarr all, stale;
};

static void lists_add(struct wm_pgarr *a, const char *id)
{
    wm_pgarr_int(a, strtoll(id, NULL, 10), false);
}

static int outbox_batch(struct wm_pg *db, struct wm_kafka_producer *p,
                        const struct wm_config *cfg, PGresult *r, struct outbox_lists *l,
                        long *sent, char *err, size_t errlen)
{
    int64_t now = wm_wall_ms();
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        lists_add(&l->all, PQgetvalue(r, i, O_ID));
        if (PQgetvalue(r, i, O_LIVE)[0] != 't') {
            lists_add(&l->stale, PQgetvalue(r, i, O_ID));
            continue;
        }
        rc = outbox_send_one(p, cfg, r, i, now, err, errlen);
        (*sent)++;
    }
    const char *all = wm_pgarr_end(&l->all), *stale = wm_pgarr_end(&l->stale);
    if (rc == 0 && *sent > 0) {
        rc = wm_kafka_flush(p, (int)wm_config_int(cfg, "kafka.flush_timeout"));
        if (rc < 0)
            snprintf(err, errlen, "outbox: delivery not confirmed (%d); will re-send", rc);
    }
    if (!all || !stale) {
        snprintf(err, errlen, "outbox: out of memory");
        return -ENOMEM;
    }
    if (rc < 0) {
        *sent = 0;
        outbox_finish(db, stale, err + strlen(err), 0);
        return rc;
    }
    return outbox_finish(db, all, err, errlen);
}

int sched_outbox_publish(struct wm_pg *db, struct wm_kafka_producer *p,
                        const struct wm_config *cfg, const char *owned, int batch, long *sent,
                        char *err, size_t errlen)
{
    *sent = 0;
    if (strcmp(owned, "{}") == 0)
        return 0;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", batch);
    const char *prm[] = {owned, lim};
    static const struct pgprep outbox = {"wm_sched_outbox", SQL_OUTBOX, 2};
    PGresult *r = pgprep_query(db, &outbox, prm, err, errlen);
    if (!r)
        return -EIO;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    struct outbox_lists l = {0};
    int rc = outbox_batch(db, p, cfg, r, &l, sent, err, errlen);
    PQclear(r);
    wm_pgarr_free(&l.all);
    wm_pgarr_free(&l.stale);
    return rc;
}
