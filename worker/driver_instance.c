/* driver_instance — per-server records of the target drivers; see
 * driver_instance.h. */
#include "driver_instance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "pg.h"
#include "secrets.h"
#include "task.h"

/* The task's one connection (task_db); never freed here. */
static struct wm_pg *db_open(struct task_ctx *t)
{
    return task_db(t);
}

static void server_id(const struct task_ctx *t, char *out, size_t len)
{
    snprintf(out, len, "%lld", (long long)t->msg.server_id);
}

/* One statement without a result, on the task's connection. */
static int db_exec(struct task_ctx *t, const char *what, const char *sql, int n,
                   const char *const *p)
{
    char err[256];
    struct wm_pg *db = db_open(t);
    if (!db)
        return -EIO;
    int rc = wm_pg_exec(db, sql, n, p, NULL, err, sizeof(err));
    return rc < 0 ? task_fail(t, "inventory: %s: %s", what, err) : 0;
}

int driver_instance_save(struct task_ctx *t, enum launch_kind kind, const char *id,
                         const char *address)
{
    char sid[24];
    server_id(t, sid, sizeof(sid));
    const char *p[] = {sid, id, address ? address : ""};
    return db_exec(t, "record instance",
                   kind == LAUNCH_TEST
                       ? "UPDATE servers SET test_instance_id = $2, test_instance_address = $3,"
                         " updated_at = now() WHERE id = $1"
                       : "UPDATE servers SET instance_id = $2, instance_address = $3,"
                         " updated_at = now() WHERE id = $1",
                   3, p);
}

int driver_instance_get(struct task_ctx *t, enum launch_kind kind, char id[DRIVER_INSTANCE_ID_LEN],
                        char address[DRIVER_ADDR_LEN])
{
    char err[256], sid[24];
    id[0] = address[0] = '\0';
    server_id(t, sid, sizeof(sid));
    struct wm_pg *db = db_open(t);
    if (!db)
        return -EIO;
    const char *p[] = {sid};
    PGresult *r = wm_pg_query(
        db,
        kind == LAUNCH_TEST ? "SELECT test_instance_id, test_instance_address FROM servers"
                              " WHERE id = $1"
                            : "SELECT instance_id, instance_address FROM servers WHERE id = $1",
        1, p, err, sizeof(err));
    int rc = r ? 0 : task_fail(t, "inventory: instance of server %s: %s", sid, err);
    if (r && PQntuples(r) == 1) {
        snprintf(id, DRIVER_INSTANCE_ID_LEN, "%s", PQgetvalue(r, 0, 0));
        snprintf(address, DRIVER_ADDR_LEN, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc < 0 ? rc : id[0] != '\0';
}

int driver_validation_save(struct task_ctx *t, const char *json)
{
    char sid[24];
    server_id(t, sid, sizeof(sid));
    const char *p[] = {sid, json};
    return db_exec(t, "record validation",
                   "UPDATE servers SET validation = $2::jsonb, updated_at = now() WHERE id = $1", 2,
                   p);
}

int driver_disks(struct task_ctx *t, struct driver_disk *out, size_t max, size_t *n)
{
    char err[256], sid[24];
    *n = 0;
    server_id(t, sid, sizeof(sid));
    struct wm_pg *db = db_open(t);
    if (!db)
        return -EIO;
    const char *p[] = {sid};
    PGresult *r = wm_pg_query(db,
                              "SELECT id, source_path, size_bytes, target_volume, cloud_volume_id"
                              " FROM disks WHERE server_id = $1 ORDER BY id",
                              1, p, err, sizeof(err));
    int rc = r ? 0 : task_fail(t, "inventory: disks of server %s: %s", sid, err);
    for (int i = 0; r && i < PQntuples(r) && *n < max; i++, (*n)++) {
        struct driver_disk *d = &out[*n];
        snprintf(d->id, sizeof(d->id), "%s", PQgetvalue(r, i, 0));
        snprintf(d->source_path, sizeof(d->source_path), "%s", PQgetvalue(r, i, 1));
        d->size_bytes = atoll(PQgetvalue(r, i, 2));
        snprintf(d->target_volume, sizeof(d->target_volume), "%s", PQgetvalue(r, i, 3));
        snprintf(d->cloud_volume_id, sizeof(d->cloud_volume_id), "%s", PQgetvalue(r, i, 4));
    }
    PQclear(r);
    return rc;
}

int driver_disk_set_cloud_volume(struct task_ctx *t, const char *disk_id, const char *volume_id)
{
    const char *p[] = {disk_id, volume_id};
    return db_exec(t, "record volume", "UPDATE disks SET cloud_volume_id = $2 WHERE id = $1", 2, p);
}

int driver_secret_get(struct task_ctx *t, const char *name, wm_secret **out)
{
    return task_secret_get(t, name, out);
}
