/* aws_chain — launching from the EBS snapshot chain; see aws_chain.h. */
#include "provider/aws/aws_chain.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "jsonr.h"
#include "log.h"
#include "pg.h"
#include "pgarr.h"
#include "provider/aws/aws.h"
#include "task.h"

static const struct wm_config_key chain_keys[] = {
    {"aws.volume_type", WM_CFG_STRING, "gp3", 0, 0, false,
     "EBS volume type of the launched disks (servers.settings volume_type wins)"},
    {"aws.ena", WM_CFG_BOOL, "true", 0, 0, false,
     "register images with EnaSupport (servers.settings ena wins)"},
    {"aws.boot_mode", WM_CFG_STRING, "", 0, 0, false,
     "uefi or legacy-bios; empty = AWS's default (servers.settings boot_mode wins)"},
    {"aws.snapshot_retention", WM_CFG_INT, "1", 1, 1000, false,
     "completed EBS snapshots kept per disk at decommission (the newest; the next export's "
     "parent is the newest)"},
};

int aws_chain_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, chain_keys, sizeof(chain_keys) / sizeof(chain_keys[0]), err,
                             errlen);
}

/* The task's one connection (task_db); never freed here. */
static struct wm_pg *db_open(struct task_ctx *t)
{
    return task_db(t);
}

/* The snapshot of each disk: the newest completed (test) or the one of the
 * disk's committed generation (cutover). */
static const char SQL_TEST[] =
    "SELECT d.id, d.generation, coalesce(s.generation, 0), coalesce(s.snapshot_id, '')"
    " FROM disks d LEFT JOIN LATERAL (SELECT generation, snapshot_id FROM ebs_snapshots e"
    "  WHERE e.disk_id = d.id AND e.state = 'completed' AND e.snapshot_id <> ''"
    "  ORDER BY generation DESC LIMIT 1) s ON true"
    " WHERE d.server_id = $1 ORDER BY d.id LIMIT 17";
static const char SQL_CUTOVER[] =
    "SELECT d.id, d.generation, coalesce(s.generation, 0), coalesce(s.snapshot_id, '')"
    " FROM disks d LEFT JOIN LATERAL (SELECT generation, snapshot_id FROM ebs_snapshots e"
    "  WHERE e.disk_id = d.id AND e.state = 'completed' AND e.snapshot_id <> ''"
    "  AND e.generation = d.generation) s ON true"
    " WHERE d.server_id = $1 ORDER BY d.id LIMIT 17";

static int load_snapshots(struct task_ctx *t, struct wm_pg *db, enum launch_kind kind,
                          struct aws_chain_image *ci)
{
    char sid[24], err[256];
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    const char *p[] = {sid};
    PGresult *r =
        wm_pg_query(db, kind == LAUNCH_TEST ? SQL_TEST : SQL_CUTOVER, 1, p, err, sizeof(err));
    if (!r)
        return task_fail(t, "aws: snapshot chain of server %s: %s", t->msg.server, err);
    int n = PQntuples(r), rc = 0;
    if (n == 0 || n > AWS_EC2_MAX_MAPPINGS)
        rc = task_fail(t, "aws: server %s has %d disks (1..%d can be launched)", t->msg.server, n,
                       AWS_EC2_MAX_MAPPINGS);
    for (int i = 0; rc == 0 && i < n; i++) {
        const char *snap = PQgetvalue(r, i, 3);
        if (!*snap)
            rc = task_fail(t,
                           "aws: disk %s of server %s has no completed EBS snapshot%s%s (is "
                           "ebs.receiver_control set, so the receiver exports after each sync?)",
                           PQgetvalue(r, i, 0), t->msg.server,
                           kind == LAUNCH_CUTOVER ? " of its final generation " : "",
                           kind == LAUNCH_CUTOVER ? PQgetvalue(r, i, 1) : "");
        snprintf(ci->disk_id[i], sizeof(ci->disk_id[i]), "%s", PQgetvalue(r, i, 0));
        ci->gen[i] = atoll(PQgetvalue(r, i, 2));
        snprintf(ci->snapshot[i], sizeof(ci->snapshot[i]), "%s", snap);
    }
    ci->n = (size_t)n;
    PQclear(r);
    return rc;
}

/* Device names: the server's list, else /dev/xvda, /dev/xvdb, … */
static int devices(struct task_ctx *t, const char *json, struct aws_chain_image *ci)
{
    char err[160];
    struct wm_jsonr *d = wm_jsonr_parse(json, strlen(json), NULL, NULL, err, sizeof(err));
    const struct wm_jsonr_val *a = wm_jsonr_root(d);
    if (!d || (wm_jsonr_type(a) != WM_JSONR_ARRAY && wm_jsonr_type(a) != WM_JSONR_NULL)) {
        wm_jsonr_free(d);
        return task_fail(t, "aws: servers.settings device_names must be a JSON array of strings");
    }
    for (size_t i = 0; i < ci->n; i++) {
        const char *v = wm_jsonr_str(wm_jsonr_at(a, i));
        if (v && strncmp(v, "/dev/", 5) == 0 && strlen(v) < sizeof(ci->device[i]))
            snprintf(ci->device[i], sizeof(ci->device[i]), "%s", v);
        else
            snprintf(ci->device[i], sizeof(ci->device[i]), "/dev/xvd%c", (char)('a' + i));
    }
    wm_jsonr_free(d);
    return 0;
}

/* servers.settings key, else dflt, into out. */
static void setting(struct task_ctx *t, const char *key, const char *dflt, char *out,
                    size_t outlen)
{
    const char *v = task_setting(t, key);
    snprintf(out, outlen, "%s", v ? v : dflt ? dflt : "");
}

static int load_settings(struct task_ctx *t, struct aws_chain_image *ci)
{
    char ena[16];
    setting(t, "volume_type", wm_config_str(t->cfg, "aws.volume_type"), ci->volume_type,
            sizeof(ci->volume_type));
    setting(t, "ena", wm_config_bool(t->cfg, "aws.ena") ? "true" : "false", ena, sizeof(ena));
    setting(t, "boot_mode", wm_config_str(t->cfg, "aws.boot_mode"), ci->boot_mode,
            sizeof(ci->boot_mode));
    setting(t, "architecture", "x86_64", ci->architecture, sizeof(ci->architecture));
    ci->ena = strcmp(ena, "false") != 0;
    const char *names = task_setting(t, "device_names");
    int rc = devices(t, names ? names : "null", ci);
    if (rc == 0 && ci->boot_mode[0] && strcmp(ci->boot_mode, "uefi") &&
        strcmp(ci->boot_mode, "legacy-bios") && strcmp(ci->boot_mode, "uefi-preferred"))
        rc = task_fail(t, "aws: boot_mode must be uefi, legacy-bios or uefi-preferred, not %s",
                       ci->boot_mode);
    return rc;
}

int aws_chain_image_for(struct task_ctx *t, enum launch_kind kind, struct aws_chain_image *ci)
{
    memset(ci, 0, sizeof(*ci));
    struct wm_pg *db = db_open(t);
    if (!db)
        return -EIO;
    int rc = load_snapshots(t, db, kind, ci);
    if (rc == 0)
        rc = load_settings(t, ci);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < ci->n; i++)
        ci->maps[i] = (struct aws_ec2_mapping){ci->device[i], ci->snapshot[i], ci->volume_type};
    ci->img = (struct aws_ec2_image){.architecture = ci->architecture,
                                     .boot_mode = ci->boot_mode,
                                     .ena = ci->ena,
                                     .maps = ci->maps,
                                     .nmaps = ci->n};
    return 0;
}

int aws_chain_image_saved(struct task_ctx *t, enum launch_kind kind, const char *image_id,
                          const struct aws_chain_image *ci)
{
    struct wm_pgarr pa = {0};
    for (size_t i = 0; i < ci->n; i++)
        wm_pgarr_text(&pa, ci->snapshot[i]);
    const char *arr = wm_pgarr_end(&pa);
    char sid[24], err[256];
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    struct wm_pg *db = arr ? db_open(t) : NULL;
    int rc = db ? 0 : -EIO;
    if (db) {
        const char *p[] = {image_id, sid, kind == LAUNCH_TEST ? "test" : "cutover", arr};
        rc = wm_pg_exec(db,
                        "INSERT INTO ebs_images (image_id, server_id, purpose, snapshot_ids)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (image_id) DO NOTHING",
                        4, p, NULL, err, sizeof(err));
        if (rc < 0)
            rc = task_fail(t, "aws: recording image %s: %s", image_id, err);
    }
    wm_pgarr_free(&pa);
    return rc;
}

/* --- decommission --- */

static const char SQL_TEST_IMAGES[] = "SELECT image_id FROM ebs_images WHERE server_id = $1"
                                      " AND purpose = 'test' AND state = 'available'";
static const char SQL_UNNEEDED[] =
    "SELECT e.disk_id, e.generation, e.snapshot_id FROM ebs_snapshots e"
    " JOIN disks d ON d.id = e.disk_id"
    " WHERE d.server_id = $1 AND e.state = 'completed' AND e.snapshot_id <> ''"
    " AND e.generation < (SELECT min(generation) FROM (SELECT generation FROM ebs_snapshots x"
    "  WHERE x.disk_id = e.disk_id AND x.state = 'completed' ORDER BY generation DESC"
    "  LIMIT $2) k)"
    " AND NOT EXISTS (SELECT 1 FROM ebs_images i WHERE i.server_id = $1"
    "  AND i.state = 'available' AND e.snapshot_id = ANY (i.snapshot_ids))";

static int each_row(struct task_ctx *t, struct wm_pg *db, struct aws_client *c, const char *sql,
                    int np, const char *const *p, bool images)
{
    char err[AWS_ERR_MAX];
    PGresult *r = wm_pg_query(db, sql, np, p, err, sizeof(err));
    if (!r)
        return task_fail(t, "aws: decommission query: %s", err);
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, images ? 0 : 2);
        rc = images ? aws_ec2_deregister_image(c, id, err, sizeof(err))
                    : aws_ec2_delete_snapshot(c, id, err, sizeof(err));
        if (rc < 0) {
            rc = task_fail(t, "aws: %s", err);
            break;
        }
        const char *q[] = {id};
        if (wm_pg_exec(db,
                       images ? "UPDATE ebs_images SET state = 'deregistered' WHERE image_id = $1"
                              : "UPDATE ebs_snapshots SET state = 'deleted' WHERE snapshot_id = $1",
                       1, q, NULL, err, sizeof(err)) < 0)
            rc = task_fail(t, "aws: recording decommission: %s", err);
        wm_info(images ? "aws.image_deregistered" : "aws.snapshot_deleted", "server=%s id=%s",
                t->msg.server, id);
    }
    PQclear(r);
    return rc;
}

int aws_chain_cleanup(struct task_ctx *t, struct aws_client *c)
{
    struct wm_pg *db = db_open(t);
    if (!db)
        return -EIO;
    char sid[24], keep[24];
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    snprintf(keep, sizeof(keep), "%lld",
             (long long)wm_config_int(t->cfg, "aws.snapshot_retention"));
    const char *p1[] = {sid}, *p2[] = {sid, keep};
    int rc = each_row(t, db, c, SQL_TEST_IMAGES, 1, p1, true);
    if (rc == 0)
        rc = each_row(t, db, c, SQL_UNNEEDED, 2, p2, false);
    return rc;
}
