/* sched_own — wave ownership by advisory locks (see sched_own.h). */
#include "sched_own.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched_sql.h"
#include "pg.h"
#include "pgarr.h"

#define OWN_MAX_WAVES 4096
#define OWN_APP_PREFIX "wavemill-scheduler-lock"

struct sched_own {
    struct wm_pg *db;
    int backend_pid; /* of the session holding our locks; 0 = none yet */
    char app_name[96];
    int64_t waves[OWN_MAX_WAVES];
    size_t n;
    struct wm_pgarr arr;
    const char *arr_str; /* arr finished; NULL after an allocation failure */
};

struct sched_own *sched_own_new(const struct wm_config *cfg, const char *instance, char *err,
                              size_t errlen)
{
    struct sched_own *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->db = wm_pg_new(cfg, err, errlen);
    if (!o->db) {
        free(o);
        return NULL;
    }
    snprintf(o->app_name, sizeof(o->app_name), "%s:%s", OWN_APP_PREFIX, instance);
    o->arr_str = wm_pgarr_end(&o->arr); /* "{}" */
    return o;
}

void sched_own_free(struct sched_own *o)
{
    if (!o)
        return;
    wm_pg_free(o->db); /* ending the session releases every lock */
    wm_pgarr_free(&o->arr);
    free(o);
}

static void own_rebuild_array(struct sched_own *o)
{
    wm_pgarr_reset(&o->arr);
    for (size_t i = 0; i < o->n; i++)
        wm_pgarr_int(&o->arr, o->waves[i], false);
    o->arr_str = wm_pgarr_end(&o->arr);
}

/* A new session (first use or reconnect) holds none of our locks. */
static int own_check_session(struct sched_own *o, char *err, size_t errlen)
{
    const char *p[] = {o->app_name};
    PGresult *r = sched_query(o->db, "lock session",
                             "SELECT pg_backend_pid(), set_config('application_name', $1, false)",
                             1, p, err, errlen);
    if (!r)
        return -EIO;
    int pid = (int)sched_get_i64(r, 0, 0);
    PQclear(r);
    if (pid != o->backend_pid) {
        if (o->n > 0)
            wm_warn("sched.ownership_lost", "waves=%zu reason=\"lock session replaced\"", o->n);
        o->n = 0;
        o->backend_pid = pid;
    }
    return 0;
}

static int own_find(const struct sched_own *o, int64_t id)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->waves[i] == id)
            return (int)i;
    return -1;
}

static int own_unlock(struct sched_own *o, size_t i, const char *why)
{
    char id[24], ns[16];
    snprintf(id, sizeof(id), "%lld", (long long)o->waves[i]);
    snprintf(ns, sizeof(ns), "%d", SCHED_LOCK_NS);
    const char *p[] = {ns, id};
    char err[256];
    PGresult *r = sched_query(o->db, "unlock", "SELECT pg_advisory_unlock($1::int, $2::int)", 2,
                             p, err, sizeof(err));
    if (r)
        PQclear(r);
    wm_info("sched.wave_released", "wave_id=%s reason=%s", id, why);
    o->waves[i] = o->waves[--o->n];
    return 0;
}

static int own_try(struct sched_own *o, const char *id, char *err, size_t errlen)
{
    char ns[16];
    snprintf(ns, sizeof(ns), "%d", SCHED_LOCK_NS);
    const char *p[] = {ns, id};
    PGresult *r = sched_query(o->db, "try lock", "SELECT pg_try_advisory_lock($1::int, $2::int)",
                             2, p, err, errlen);
    if (!r)
        return -EIO;
    bool got = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (got && o->n < OWN_MAX_WAVES) {
        o->waves[o->n++] = strtoll(id, NULL, 10);
        wm_info("sched.wave_taken", "wave_id=%s", id);
    }
    return got;
}

/* Running waves (priority first) and the number of live schedulers. */
static PGresult *own_candidates(struct sched_own *o, char *err, size_t errlen)
{
    const char *p[] = {OWN_APP_PREFIX ":%"};
    return sched_query(o->db, "running waves",
                      "SELECT id, (SELECT count(*) FROM pg_stat_activity"
                      "   WHERE datname = current_database() AND application_name LIKE $1)"
                      " FROM waves WHERE status = 'RUNNING' ORDER BY priority DESC, id",
                      1, p, err, errlen);
}

int sched_own_refresh(struct sched_own *o, char *err, size_t errlen)
{
    int rc = own_check_session(o, err, errlen);
    if (rc < 0)
        return rc;
    PGresult *r = own_candidates(o, err, errlen);
    if (!r)
        return -EIO;
    int nrun = PQntuples(r);
    int64_t live = nrun > 0 ? sched_get_i64(r, 0, 1) : 1;
    size_t share = (size_t)((nrun + (live > 0 ? live : 1) - 1) / (live > 0 ? live : 1));
    for (size_t i = o->n; i-- > 0;) { /* drop what stopped running */
        bool running = false;
        for (int k = 0; k < nrun && !running; k++)
            running = sched_get_i64(r, k, 0) == o->waves[i];
        if (!running)
            own_unlock(o, i, "not_running");
    }
    while (o->n > share && o->n > 0) /* give the surplus to the others */
        own_unlock(o, o->n - 1, "fair_share");
    for (int k = 0; k < nrun && o->n < share && rc >= 0; k++) {
        if (own_find(o, sched_get_i64(r, k, 0)) < 0)
            rc = own_try(o, PQgetvalue(r, k, 0), err, errlen);
    }
    PQclear(r);
    own_rebuild_array(o);
    return rc < 0 ? rc : (int)o->n;
}

const char *sched_own_array(const struct sched_own *o)
{
    return o->arr_str;
}

size_t sched_own_count(const struct sched_own *o)
{
    return o->n;
}
