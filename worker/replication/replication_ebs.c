/* replication_ebs — export to EBS through the receiver's control port; see
 * replication_ebs.h. */
#include "replication/replication_ebs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "clock.h"
#include "config.h"
#include "json.h"
#include "jsonr.h"
#include "log.h"
#include "pg.h"
#include "repl_client.h"
#include "task.h"

#define EBS_BLOCK (512 * 1024)
#define DB_EVERY_MS 2000
#define DIAL_TRIES 5

static const struct wm_config_key ebs_keys[] = {
    {"ebs.receiver_control", WM_CFG_STRING, "", 0, 0, false,
     "receiver control HOST:PORT (serve --control) that exports disks to EBS after each sync; "
     "empty = no export (servers.settings receiver_control overrides)"},
    {"ebs.endpoint", WM_CFG_STRING, "", 0, 0, false,
     "EBS direct API endpoint as the receiver reaches it; empty = "
     "https://ebs.REGION.amazonaws.com"},
    {"ebs.ec2_endpoint", WM_CFG_STRING, "", 0, 0, false,
     "EC2 endpoint the receiver polls for completion; empty = https://ec2.REGION.amazonaws.com"},
    {"ebs.region", WM_CFG_STRING, "us-east-1", 0, 0, false, "region of the snapshots"},
    {"ebs.inflight", WM_CFG_INT, "16", 1, 64, false, "PutSnapshotBlock requests in flight"},
    {"ebs.attempts", WM_CFG_INT, "8", 1, 16, false, "attempts of a throttled request"},
};

int replication_ebs_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, ebs_keys, sizeof(ebs_keys) / sizeof(ebs_keys[0]), err, errlen);
}

static const char *cfg_str(const struct task_ctx *t, const char *key)
{
    const char *v = wm_config_str(t->cfg, key);
    return v ? v : "";
}

void replication_ebs_control(struct task_ctx *t, char *out, size_t outlen)
{
    const char *v = task_setting(t, "receiver_control");
    snprintf(out, outlen, "%s", v ? v : cfg_str(t, "ebs.receiver_control"));
}

/* The export options the receiver reads (ebs_control.h). */
static char *options(struct task_ctx *t, const char *server, const struct replication_ebs_disk *d)
{
    char gen[24], desc[400];
    snprintf(gen, sizeof(gen), "%" PRId64, d->gen);
    snprintf(desc, sizeof(desc), "wavemill wave %s server %s disk %s generation %s",
             t->msg.wave ? t->msg.wave : "", server, d->id, gen);
    struct wm_json *j = wm_json_new();
    if (!j)
        return NULL;
    wm_json_obj_begin(j);
    const char *keys[] = {"endpoint", "ec2_endpoint", "region"};
    const char *cfgk[] = {"ebs.endpoint", "ebs.ec2_endpoint", "ebs.region"};
    for (size_t i = 0; i < 3; i++)
        if (*cfg_str(t, cfgk[i]))
            wm_json_kstr(j, keys[i], cfg_str(t, cfgk[i]));
    wm_json_kint(j, "generation", d->gen);
    wm_json_kint(j, "inflight", wm_config_int(t->cfg, "ebs.inflight"));
    wm_json_kint(j, "attempts", wm_config_int(t->cfg, "ebs.attempts"));
    wm_json_kstr(j, "description", desc);
    wm_json_key(j, "tags");
    wm_json_obj_begin(j);
    wm_json_kstr(j, "wave", t->msg.wave ? t->msg.wave : "");
    wm_json_kstr(j, "server", server);
    wm_json_kstr(j, "disk", d->id);
    wm_json_obj_end(j);
    wm_json_obj_end(j);
    char *out = wm_json_error(j) || wm_json_len(j) >= 1024 ? NULL : strdup(wm_json_text(j));
    wm_json_free(j);
    return out;
}

struct export_run {
    struct task_ctx *t;
    struct wm_pg *db;
    const struct replication_ebs_disk *d;
    int64_t next_db_ms;
};

static void db_exec(struct export_run *x, const char *sql, int n, const char *const *p)
{
    char err[256];
    if (wm_pg_exec(x->db, sql, n, p, NULL, err, sizeof(err)) < 0)
        wm_warn("ebs.db_update_failed", "disk=%s err=\"%s\"", x->d->id, err);
}

static const char SQL_PROGRESS[] =
    "INSERT INTO ebs_snapshots (disk_id, generation, blocks_uploaded, bytes_uploaded,"
    " rate_bytes_per_s) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (disk_id, generation) DO UPDATE"
    " SET blocks_uploaded = $3, bytes_uploaded = $4, rate_bytes_per_s = $5"
    " WHERE ebs_snapshots.state = 'uploading'";

static void on_progress(const struct proto_progress *p, void *ud)
{
    struct export_run *x = ud;
    task_progress(x->t, (int64_t)p->scanned, (int64_t)p->total);
    int64_t now = wm_mono_ms();
    if (now < x->next_db_ms)
        return;
    x->next_db_ms = now + DB_EVERY_MS;
    char gen[24], blocks[24], bytes[24], rate[24];
    snprintf(gen, sizeof(gen), "%" PRId64, x->d->gen);
    snprintf(blocks, sizeof(blocks), "%" PRIu64, p->sent / EBS_BLOCK);
    snprintf(bytes, sizeof(bytes), "%" PRIu64, p->sent);
    snprintf(rate, sizeof(rate), "%" PRIu64, p->rate);
    const char *q[] = {x->d->id, gen, blocks, bytes, rate};
    db_exec(x, SQL_PROGRESS, 5, q);
}

static const char SQL_DONE[] =
    "INSERT INTO ebs_snapshots (disk_id, generation, snapshot_id, parent_snapshot_id,"
    " parent_generation, state, volume_size_bytes, changed_blocks, blocks_uploaded,"
    " bytes_uploaded, rate_bytes_per_s, completed_at)"
    " VALUES ($1, $2, $3, $4, $5, 'completed', $6, $7, $8, $9, $10, now())"
    /* "already" (exported by an earlier attempt): the receiver only knows
     * the snapshot id, the row keeps what the first answer said */
    " ON CONFLICT (disk_id, generation) DO UPDATE SET snapshot_id = $3, state = 'completed',"
    " parent_snapshot_id = CASE WHEN $11 THEN ebs_snapshots.parent_snapshot_id ELSE $4 END,"
    " parent_generation = CASE WHEN $11 THEN ebs_snapshots.parent_generation ELSE $5::bigint END,"
    " volume_size_bytes = CASE WHEN $11 THEN ebs_snapshots.volume_size_bytes ELSE $6::bigint END,"
    " changed_blocks = CASE WHEN $11 THEN ebs_snapshots.changed_blocks ELSE $7::bigint END,"
    " blocks_uploaded = CASE WHEN $11 THEN ebs_snapshots.blocks_uploaded ELSE $8::bigint END,"
    " bytes_uploaded = CASE WHEN $11 THEN ebs_snapshots.bytes_uploaded ELSE $9::bigint END,"
    " rate_bytes_per_s = CASE WHEN $11 THEN ebs_snapshots.rate_bytes_per_s ELSE $10::bigint END,"
    " completed_at = coalesce(ebs_snapshots.completed_at, now())";

/* The receiver's result (JSON, ebs_control.h) into the disk's chain row. */
static int record(struct export_run *x, const struct repl_client_result *res)
{
    char err[160];
    struct wm_jsonr *d = wm_jsonr_parse(res->text, strlen(res->text), NULL, NULL, err, sizeof(err));
    const struct wm_jsonr_val *r = wm_jsonr_root(d);
    const char *snap = wm_jsonr_str(wm_jsonr_get(r, "snapshot"));
    if (!snap || strncmp(snap, "snap-", 5) != 0) {
        wm_jsonr_free(d);
        return task_fail(x->t, "ebs export of disk %s: unreadable result from the receiver: %s",
                         x->d->id, res->text);
    }
    const char *keys[] = {"parent_generation", "volume_size", "changed_blocks",
                          "blocks_put",        "bytes_put",   "seconds"};
    int64_t v[6] = {0};
    for (int i = 0; i < 6; i++)
        wm_jsonr_int(wm_jsonr_get(r, keys[i]), &v[i]);
    bool already = false;
    wm_jsonr_bool(wm_jsonr_get(r, "already"), &already);
    char gen[24], num[6][24], rate[24];
    snprintf(gen, sizeof(gen), "%" PRIu64, res->gen);
    for (int i = 0; i < 5; i++)
        snprintf(num[i], sizeof(num[i]), "%" PRId64, v[i]);
    snprintf(rate, sizeof(rate), "%" PRId64, v[5] > 0 ? v[4] / v[5] : v[4]);
    const char *parent = wm_jsonr_str(wm_jsonr_get(r, "parent"));
    const char *q[] = {x->d->id, gen,    snap, parent ? parent : "",      num[0], num[1], num[2],
                       num[3],   num[4], rate, already ? "true" : "false"};
    db_exec(x, SQL_DONE, 11, q);
    wm_info("ebs.exported", "disk=%s gen=%s snapshot=%s parent=%s blocks_put=%s already=%d",
            x->d->id, gen, snap, parent && *parent ? parent : "-", num[3], already);
    wm_jsonr_free(d);
    return 0;
}

static int export_disk(struct task_ctx *t, struct wm_pg *db, struct repl_client *c,
                       const char *control, const char *server,
                       const struct replication_ebs_disk *d)
{
    char *opts = options(t, server, d), id[PROTO_NAME_MAX], err[512] = "";
    if (!opts)
        return task_fail(t, "ebs export of disk %s: options too long", d->id);
    snprintf(id, sizeof(id), "t%lld-a%d-ebs-d%s-g%" PRId64, (long long)t->msg.task_id,
             (int)t->msg.attempt, d->id, d->gen);
    struct repl_client_req req = {
        .op = REPL_CLIENT_EBS_EXPORT, .id = id, .disk = opts, .volume = d->volume, .to = "ebs"};
    struct export_run x = {t, db, d, 0};
    struct repl_client_result res;
    int rc = -EIO;
    for (int i = 0; i < DIAL_TRIES && !task_should_stop(t); i++) {
        rc = repl_client_run(c, control, &req, on_progress, &x, 0, &res, err, sizeof(err));
        if (rc == 0 || rc == -EPERM)
            break;
        wm_warn("ebs.control_retry", "server=%s volume=%s err=\"%s\"", server, d->volume, err);
        sleep(1); /* the export goes on on the receiver; re-attach */
    }
    free(opts);
    if (task_should_stop(t))
        return -ECANCELED;
    if (rc < 0)
        return task_fail(t, "ebs export of %s: receiver control %s unreachable: %s", d->volume,
                         control, err);
    if (res.rc != 0) {
        char gen[24];
        snprintf(gen, sizeof(gen), "%" PRId64, d->gen);
        const char *q[] = {d->id, gen};
        db_exec(&x,
                "UPDATE ebs_snapshots SET state = 'error' WHERE disk_id = $1 AND"
                " generation = $2 AND state = 'uploading'",
                2, q);
        return task_fail(t, "ebs export of %s generation %s failed on the receiver: %s", d->volume,
                         gen, res.text);
    }
    return record(&x, &res);
}

int replication_ebs_export(struct task_ctx *t, struct wm_pg *db, const char *control,
                           const char *server, const struct replication_ebs_disk *disks, int n)
{
    char err[512];
    const char *tls = cfg_str(t, "repl.worker_tls_dir");
    if (!*tls)
        return task_fail(t, "ebs export: repl.worker_tls_dir is not set (role worker)");
    struct repl_client *c = repl_client_new(tls, err, sizeof(err));
    if (!c)
        return task_fail(t, "ebs export: worker certificate: %s", err);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = export_disk(t, db, c, control, server, &disks[i]);
    repl_client_free(c);
    return rc;
}
