/* pg — see pg.h.
 *
 * One wm_pg is one libpq connection used by one thread at a time.  Every
 * statement goes through pg_run(), which is the only place that decides
 * whether the connection is broken; when it is, the connection is replaced
 * (with bounded, jittered exponential backoff) and the statement reports
 * -ECONNRESET: it is never re-sent, because it may have run on the server.
 *
 * The conninfo may hold a password.  It is kept only in db->conninfo and
 * handed to libpq; messages name the server by db->target ("host=… port=…"),
 * and the password is registered with the log redactor in case libpq ever
 * echoes it. */
#include "pg.h"

#include "clock.h"
#include "config.h"
#include "log.h"
#include "utf8.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PG_BACKOFF_BASE_MS 50
#define PG_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define PG_DEFAULT_RECONNECT_MAX_MS 2000
#define PG_DEFAULT_TX_RETRIES 5
#define PG_TX_RETRIES_MAX 100
#define PG_MIGRATE_MAX_FILES 1000
#define PG_MIGRATE_MAX_BYTES (4L << 20)
/* pg_advisory_xact_lock key of the migration runner ("wmmigrat" in ASCII). */
#define PG_MIGRATE_LOCK_KEY "8605654762449428852"

struct wm_pg {
    PGconn *conn;
    char *conninfo;   /* may hold a password: never printed */
    char target[256]; /* "host=… port=…" for messages */
    int64_t connect_timeout_ms;
    int64_t reconnect_max_ms;
    int tx_retries;
    int last_rc;           /* of the last statement: 0, -EIO, -ECONNRESET, … */
    char sqlstate[6];      /* of the last statement if it failed, else "" */
    unsigned long resets;  /* broken connections found so far */
    bool saw_retryable;    /* a 40001/40P01 since the last wm_pg_tx attempt began */
    unsigned seed;         /* jitter */
};

/* --- small helpers --- */

/* Delay before retry number attempt (0-based): base·2^attempt capped at
 * reconnect_max, then a random point in its upper half, so that many
 * clients losing the server at once do not come back in lock step. */
static int64_t backoff_ms(struct wm_pg *db, int attempt)
{
    int64_t d = PG_BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && d < db->reconnect_max_ms; i++)
        d *= 2;
    if (d > db->reconnect_max_ms)
        d = db->reconnect_max_ms;
    if (d < 2)
        return d;
    return d / 2 + (int64_t)(rand_r(&db->seed) % (unsigned)(d / 2 + 1));
}

/* Copies src to dst through the log redactor (secrets → ***). */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    char raw[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* wm_redact also escapes newlines, so err stays one line */
    wm_redact(raw, err, errlen);
}

/* libpq's connection messages look like 'connection to server at "h", port
 * p failed: Connection refused\n\tIs the server running…'; keep the reason. */
static void conn_reason(PGconn *conn, char *out, size_t outlen)
{
    const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
    const char *p = msg, *f;
    while ((f = strstr(p, "failed: ")) != NULL)
        p = f + strlen("failed: ");
    size_t n = strcspn(p, "\n");
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    if (n == 0) {
        snprintf(out, outlen, "unknown error");
        return;
    }
    /* libpq writes "FATAL:  reason"; one space reads better on one line */
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen; i++) {
        if (p[i] == ' ' && i > 0 && p[i - 1] == ' ')
            continue;
        out[o++] = p[i];
    }
    out[o] = '\0';
}

/* A server-side refusal (bad password, no such database or role) will not
 * change by retrying; a server that is starting, stopping or full may. */
static bool conn_reason_is_permanent(const char *reason)
{
    if (!strstr(reason, "FATAL"))
        return false;
    static const char *const transient[] = {"starting up", "shutting down", "too many",
                                            "recovery", "not yet accepting"};
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++) {
        if (strstr(reason, transient[i]))
            return false;
    }
    return true;
}

/* Fills db->target from the conninfo and registers its password as a
 * secret.  -EINVAL if libpq cannot parse it. */
static int describe_target(struct wm_pg *db, char *err, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(db->conninfo, &perr);
    if (!opts) {
        /* libpq's message may quote part of the string (a password, even):
         * do not repeat it */
        PQfreemem(perr);
        set_err(err, errlen, "invalid pg.conninfo (expected key=value pairs or a postgresql:// URI)");
        return -EINVAL;
    }
    const char *host = NULL, *hostaddr = NULL, *port = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "password") == 0)
            wm_log_register_secret(o->val);
    }
    snprintf(db->target, sizeof(db->target), "host=%s port=%s",
             host ? host : hostaddr ? hostaddr : "(default)", port ? port : "(default)");
    PQconninfoFree(opts);
    return 0;
}

static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    char line[512];
    size_t n = strcspn(message, "\n");
    snprintf(line, sizeof(line), "%.*s", (int)n, message);
    wm_debug("pg.notice", "msg=\"%s\"", line);
}

/* --- connecting --- */

static PGconn *connect_once(struct wm_pg *db)
{
    /* connect_timeout bounds one attempt against a silent host, and TCP
     * keepalives notice a peer that vanished mid-query (~60 s) instead of
     * waiting forever.  They come before the conninfo, so values given
     * there win. */
    char per_try[24];
    int64_t s = db->connect_timeout_ms / 1000;
    snprintf(per_try, sizeof(per_try), "%lld", (long long)(s < 2 ? 2 : s));
    const char *const keys[] = {"connect_timeout", "keepalives", "keepalives_idle",
                                "keepalives_interval", "keepalives_count",
                                "fallback_application_name", "dbname", NULL};
    const char *const vals[] = {per_try, "1", "30", "10", "3", "wavemill", db->conninfo, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

/* Connects, retrying with backoff until connect_timeout has passed.
 * 0, or -ECONNREFUSED with "cannot connect to PostgreSQL at …: reason". */
static int pg_connect(struct wm_pg *db, char *err, size_t errlen)
{
    int64_t deadline = wm_mono_ms() + db->connect_timeout_ms;
    char reason[512] = "";
    for (int attempt = 0;; attempt++) {
        PGconn *conn = connect_once(db);
        if (conn && PQstatus(conn) == CONNECTION_OK) {
            PQsetNoticeProcessor(conn, notice_to_log, NULL);
            db->conn = conn;
            return 0;
        }
        conn_reason(conn, reason, sizeof(reason));
        PQfinish(conn);
        int64_t wait = backoff_ms(db, attempt), left = deadline - wm_mono_ms();
        if (conn_reason_is_permanent(reason) || left <= 0)
            break;
        wm_debug("pg.connect_retry", "target=\"%s\" attempt=%d wait_ms=%lld reason=\"%s\"",
                 db->target, attempt + 1, (long long)wait, reason);
        wm_sleep_ms(wait < left ? wait : left);
    }
    set_err(err, errlen, "cannot connect to PostgreSQL at %s: %s", db->target, reason);
    return -ECONNREFUSED;
}

static struct wm_pg *pg_alloc(const char *conninfo, char *err, size_t errlen)
{
    struct wm_pg *db = calloc(1, sizeof(*db));
    if (!db || !(db->conninfo = strdup(conninfo ? conninfo : ""))) {
        free(db);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    db->connect_timeout_ms = PG_DEFAULT_CONNECT_TIMEOUT_MS;
    db->reconnect_max_ms = PG_DEFAULT_RECONNECT_MAX_MS;
    db->tx_retries = PG_DEFAULT_TX_RETRIES;
    db->seed = (unsigned)getpid() ^ (unsigned)wm_mono_ms() ^ (unsigned)(uintptr_t)db;
    if (describe_target(db, err, errlen) < 0) {
        wm_pg_free(db);
        return NULL;
    }
    return db;
}

static struct wm_pg *pg_open(struct wm_pg *db, char *err, size_t errlen)
{
    if (!db)
        return NULL;
    if (pg_connect(db, err, errlen) < 0) {
        wm_pg_free(db);
        return NULL;
    }
    wm_debug("pg.connected", "target=\"%s\"", db->target);
    return db;
}

struct wm_pg *wm_pg_new_conninfo(const char *conninfo, char *err, size_t errlen)
{
    return pg_open(pg_alloc(conninfo, err, errlen), err, errlen);
}

struct wm_pg *wm_pg_new(const struct wm_config *cfg, char *err, size_t errlen)
{
    const char *conninfo = wm_config_str(cfg, "pg.conninfo");
    if (!conninfo || !*conninfo) {
        set_err(err, errlen, "pg.conninfo is not set");
        return NULL;
    }
    struct wm_pg *db = pg_alloc(conninfo, err, errlen);
    if (!db)
        return NULL;
    wm_pg_set_limits(db, wm_config_int(cfg, "pg.connect_timeout"),
                     wm_config_int(cfg, "pg.reconnect_max"), (int)wm_config_int(cfg, "pg.tx_retries"));
    return pg_open(db, err, errlen);
}

void wm_pg_set_limits(struct wm_pg *db, int64_t connect_timeout_ms, int64_t reconnect_max_ms,
                      int tx_retries)
{
    if (connect_timeout_ms >= 0)
        db->connect_timeout_ms = connect_timeout_ms;
    if (reconnect_max_ms > 0)
        db->reconnect_max_ms = reconnect_max_ms;
    if (tx_retries >= 0)
        db->tx_retries = tx_retries > PG_TX_RETRIES_MAX ? PG_TX_RETRIES_MAX : tx_retries;
}

void wm_pg_free(struct wm_pg *db)
{
    if (!db)
        return;
    PQfinish(db->conn);
    if (db->conninfo) {
        /* the conninfo may hold a password: do not leave it in freed memory */
        memset(db->conninfo, 0, strlen(db->conninfo));
        free(db->conninfo);
    }
    free(db);
}

PGconn *wm_pg_conn(struct wm_pg *db)
{
    return db->conn;
}

const char *wm_pg_sqlstate(const struct wm_pg *db)
{
    return db->sqlstate;
}

int wm_pg_errno(const struct wm_pg *db)
{
    return db->last_rc;
}

const char *wm_pg_target(const struct wm_pg *db)
{
    return db->target;
}

/* --- statements --- */

/* The connection is gone when libpq says so, or the server failed the
 * statement with a connection-class SQLSTATE (08…), with none at all (a
 * client-side failure), or with 57P01–57P03 (the backend was terminated or
 * the server is going down: the session will not survive). */
static bool result_means_broken(PGconn *conn, const char *sqlstate)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return true;
    if (!sqlstate || !*sqlstate || strncmp(sqlstate, "08", 2) == 0)
        return true;
    return strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 ||
           strcmp(sqlstate, "57P03") == 0;
}

/* Replaces a broken connection.  Always returns -ECONNRESET: the statement
 * that found the breakage is not known to have run or not. */
static int pg_reset(struct wm_pg *db, const char *why, char *err, size_t errlen)
{
    db->resets++;
    if (!db->sqlstate[0])
        snprintf(db->sqlstate, sizeof(db->sqlstate), "08006");
    wm_warn("pg.connection_lost", "target=\"%s\" reason=\"%s\"", db->target, why);
    PQfinish(db->conn);
    db->conn = NULL;
    char cerr[768];
    if (pg_connect(db, cerr, sizeof(cerr)) < 0) {
        set_err(err, errlen, "connection to PostgreSQL lost (%s); %s", why, cerr);
        return -ECONNRESET;
    }
    wm_info("pg.reconnected", "target=\"%s\"", db->target);
    set_err(err, errlen, "connection to PostgreSQL lost (%s); reconnected, statement not retried",
            why);
    return -ECONNRESET;
}

static void first_line(const char *msg, char *out, size_t outlen)
{
    size_t n = strcspn(msg, "\n");
    while (n > 0 && isspace((unsigned char)msg[n - 1]))
        n--;
    snprintf(out, outlen, "%.*s", (int)n, msg);
}

/* Classifies a failed result (res may be NULL); frees it. */
static int pg_failed(struct wm_pg *db, PGresult *res, char *err, size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
    if (strcmp(db->sqlstate, "40001") == 0 || strcmp(db->sqlstate, "40P01") == 0)
        db->saw_retryable = true;
    char why[512];
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    first_line(primary ? primary : PQerrorMessage(db->conn), why, sizeof(why));
    bool broken = result_means_broken(db->conn, state);
    PQclear(res);
    if (broken)
        return db->last_rc = pg_reset(db, why, err, errlen);
    set_err(err, errlen, "%s (SQLSTATE %s)", why, db->sqlstate);
    return db->last_rc = -EIO;
}

/* An empty query, or a COPY (which this API does not speak): -EINVAL; for
 * COPY the session is closed (the simplest way out of the copy state) and
 * the next statement opens a new one. */
static void pg_unexpected(struct wm_pg *db, PGresult *res, ExecStatusType st, char *err,
                          size_t errlen)
{
    PQclear(res);
    if (st == PGRES_EMPTY_QUERY) {
        set_err(err, errlen, "empty query");
        db->last_rc = -EINVAL;
        return;
    }
    /* not counted as a lost connection: wm_pg_tx must not retry this */
    PQfinish(db->conn);
    db->conn = NULL;
    set_err(err, errlen, "unsupported result %s (COPY is not supported); session closed",
            PQresStatus(st));
    db->last_rc = -EINVAL;
}

static void pg_params_free(int nparams, char **copy);

/* Text parameters must be valid UTF-8 or PostgreSQL refuses the whole
 * statement (and the transaction around it): a task error printed in
 * Latin-1 would fail the batch that reports it.  Invalid bytes are escaped
 * (utf8.h); *copy holds the sanitized array to free, NULL when none was
 * needed.  -ENOMEM only. */
static int pg_params_utf8(int nparams, const char *const *params, char ***copy)
{
    *copy = NULL;
    int i = 0;
    while (i < nparams && (!params[i] || wm_utf8_valid(params[i], strlen(params[i]))))
        i++;
    if (i == nparams)
        return 0;
    char **c = nparams > 0 ? calloc((size_t)(unsigned)nparams, sizeof(*c)) : NULL;
    for (int k = 0; c && k < nparams; k++)
        if (params[k] && !(c[k] = wm_utf8_dup(params[k]))) {
            pg_params_free(nparams, c);
            c = NULL;
        }
    *copy = c;
    return c ? 0 : -ENOMEM;
}

static void pg_params_free(int nparams, char **copy)
{
    for (int k = 0; copy && k < nparams; k++)
        free(copy[k]);
    free(copy);
}

/* Runs one statement.  raw = PQexec (several statements, no parameters),
 * only for the project's own migration files.  Returns the result or NULL
 * with db->last_rc set. */
static PGresult *pg_run(struct wm_pg *db, const char *sql, int nparams, const char *const *params,
                        bool raw, char *err, size_t errlen)
{
    db->sqlstate[0] = '\0';
    db->last_rc = 0;
    if (db->conn && PQstatus(db->conn) != CONNECTION_OK) {
        /* broke outside our calls (e.g. through wm_pg_conn()): the caller
         * has not been told that its session is gone, so tell it now rather
         * than run this statement in a new session (outside its BEGIN) */
        db->last_rc = pg_reset(db, "connection found closed", err, errlen);
        return NULL;
    }
    if (!db->conn && pg_connect(db, err, errlen) < 0) {
        /* the loss was reported already and the server is still away */
        snprintf(db->sqlstate, sizeof(db->sqlstate), "08006");
        db->last_rc = -ECONNRESET;
        return NULL;
    }
    char **safe = NULL;
    if (!raw && pg_params_utf8(nparams, params, &safe) < 0) {
        db->last_rc = -ENOMEM;
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    PGresult *res = raw ? PQexec(db->conn, sql)
                        : PQexecParams(db->conn, sql, nparams, NULL,
                                       safe ? (const char *const *)safe : params, NULL, NULL, 0);
    pg_params_free(nparams, safe);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR)
        pg_failed(db, res, err, errlen);
    else
        pg_unexpected(db, res, st, err, errlen);
    return NULL;
}

PGresult *wm_pg_query(struct wm_pg *db, const char *sql, int nparams, const char *const *params,
                      char *err, size_t errlen)
{
    if (!sql || nparams < 0 || (nparams > 0 && !params)) {
        db->last_rc = -EINVAL;
        set_err(err, errlen, "wm_pg_query: bad arguments");
        return NULL;
    }
    return pg_run(db, sql, nparams, params, false, err, errlen);
}

int wm_pg_exec(struct wm_pg *db, const char *sql, int nparams, const char *const *params,
               long *rows, char *err, size_t errlen)
{
    PGresult *res = wm_pg_query(db, sql, nparams, params, err, errlen);
    if (!res)
        return db->last_rc;
    if (rows)
        *rows = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

/* --- transactions --- */

static void tx_rollback(struct wm_pg *db, unsigned long resets_before)
{
    /* after a reconnect the new session has no transaction to roll back */
    if (db->resets != resets_before || !db->conn)
        return;
    char ignored[256];
    int rc = db->last_rc;
    char state[6];
    memcpy(state, db->sqlstate, sizeof(state));
    wm_pg_exec(db, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
    /* report the failure that caused the rollback, not the rollback's */
    db->last_rc = rc;
    memcpy(db->sqlstate, state, sizeof(state));
}

static int tx_commit(struct wm_pg *db, char *err, size_t errlen)
{
    PGresult *res = wm_pg_query(db, "COMMIT", 0, NULL, err, errlen);
    if (!res)
        return db->last_rc;
    /* COMMIT of a transaction in which a statement failed is a ROLLBACK */
    bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back) {
        set_err(err, errlen, "transaction was aborted by an earlier error; rolled back");
        return db->last_rc = -EIO;
    }
    return 0;
}

static int tx_once(struct wm_pg *db, wm_pg_tx_fn fn, void *arg, char *err, size_t errlen)
{
    unsigned long resets_before = db->resets;
    db->saw_retryable = false;
    int rc = wm_pg_exec(db, "BEGIN", 0, NULL, NULL, err, errlen);
    if (rc < 0)
        return rc;
    rc = fn(db, arg, err, errlen);
    if (rc != 0) {
        tx_rollback(db, resets_before);
        return rc;
    }
    return tx_commit(db, err, errlen);
}

/* A lost connection during COMMIT is ambiguous (it may have committed); the
 * whole transaction is run again, so fn must be safe to repeat — as every
 * wavemill handler is (docs/architecture.md, principle 4). */
int wm_pg_tx(struct wm_pg *db, wm_pg_tx_fn fn, void *arg, char *err, size_t errlen)
{
    int rc = -EIO;
    for (int attempt = 0; attempt <= db->tx_retries; attempt++) {
        if (attempt > 0) {
            int64_t wait = backoff_ms(db, attempt - 1);
            wm_info("pg.tx_retry", "attempt=%d wait_ms=%lld sqlstate=%s", attempt + 1,
                    (long long)wait, db->sqlstate[0] ? db->sqlstate : "-");
            wm_sleep_ms(wait);
        }
        unsigned long resets_before = db->resets;
        rc = tx_once(db, fn, arg, err, errlen);
        if (rc == 0)
            return 0;
        bool retry = db->saw_retryable || db->resets != resets_before || rc == -ECONNRESET;
        if (!retry)
            return rc;
    }
    if (err && errlen > 0) {
        char last[768];
        snprintf(last, sizeof(last), "%s", err);
        set_err(err, errlen, "transaction gave up after %d attempts: %s", db->tx_retries + 1, last);
    }
    return rc;
}

/* --- migrations --- */

struct mig_file {
    int version;
    char name[256];
};

struct mig_list {
    struct mig_file *files;
    size_t n;
};

static int mig_cmp(const void *a, const void *b)
{
    const struct mig_file *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static int mig_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* "NNN_name.sql" → version NNN; -1 if the name does not have that shape. */
static int mig_version(const char *name)
{
    size_t digits = strspn(name, "0123456789"), len = strlen(name);
    if (digits == 0 || digits > 9 || name[digits] != '_' || len < digits + 5 ||
        strcmp(name + len - 4, ".sql") != 0)
        return -1;
    return (int)strtol(name, NULL, 10);
}

static int mig_add(struct mig_list *list, const char *name, int version, char *err,
                   size_t errlen)
{
    if (list->n == PG_MIGRATE_MAX_FILES) {
        set_err(err, errlen, "more than %d migration files", PG_MIGRATE_MAX_FILES);
        return -E2BIG;
    }
    if (strlen(name) >= sizeof(list->files[0].name)) {
        set_err(err, errlen, "migration file name too long: %.64s…", name);
        return -ENAMETOOLONG;
    }
    struct mig_file *f = &list->files[list->n++];
    f->version = version;
    snprintf(f->name, sizeof(f->name), "%s", name);
    return 0;
}

/* Lists dir's NNN_*.sql files sorted by NNN.  Two files with one number is
 * an error: their order would be a coin toss. */
static int mig_scan(const char *dir, struct mig_list *list, char *err, size_t errlen)
{
    list->n = 0;
    list->files = calloc(PG_MIGRATE_MAX_FILES, sizeof(*list->files));
    DIR *d = list->files ? opendir(dir) : NULL;
    if (!d) {
        int e = list->files ? errno : ENOMEM;
        set_err(err, errlen, "cannot read migrations directory %s: %s", dir, strerror(e));
        return -e;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        int v = mig_version(de->d_name);
        if (v > 0)
            rc = mig_add(list, de->d_name, v, err, errlen);
    }
    closedir(d);
    if (rc < 0)
        return rc;
    qsort(list->files, list->n, sizeof(*list->files), mig_cmp);
    for (size_t i = 1; i < list->n; i++) {
        if (list->files[i].version == list->files[i - 1].version) {
            set_err(err, errlen, "two migrations with version %d: %s and %s", list->files[i].version,
                    list->files[i - 1].name, list->files[i].name);
            return -EINVAL;
        }
    }
    return 0;
}

static char *mig_read(const char *dir, const char *name, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0 || st.st_size > PG_MIGRATE_MAX_BYTES) {
        set_err(err, errlen, "%s: %s", path, !f ? strerror(errno) : "larger than 4 MiB");
        if (f)
            fclose(f);
        return NULL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!text || n != (size_t)st.st_size) {
        set_err(err, errlen, "%s: cannot read", path);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/* Line (1-based) of the character at 1-based position pos, as the server
 * counts characters (UTF-8 code points). */
static int mig_line_of(const char *text, long pos)
{
    int line = 1;
    long ch = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && ch < pos - 1; p++) {
        if ((*p & 0xC0) != 0x80)
            ch++;
        if (*p == '\n')
            line++;
    }
    return line;
}

static int mig_lock(struct wm_pg *db, char *err, size_t errlen)
{
    const char *key[] = {PG_MIGRATE_LOCK_KEY};
    return wm_pg_exec(db, "SELECT pg_advisory_xact_lock($1::bigint)", 1, key, NULL, err, errlen);
}

static int mig_ensure_table(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    (void)arg;
    int rc = mig_lock(db, err, errlen);
    if (rc < 0)
        return rc;
    return wm_pg_exec(db,
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version integer PRIMARY KEY,"
                      " name text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())",
                      0, NULL, NULL, err, errlen);
}

struct mig_apply {
    const char *dir;
    const struct mig_file *file;
    bool applied;
};

/* Runs a migration file's text.  PQexec (not PQexecParams) because a file
 * holds several statements; this is the only place wavemill sends SQL text
 * that is not a constant, and that text is the project's own migration
 * file, never outside input. */
static int mig_run_text(struct wm_pg *db, const struct mig_file *f, const char *text, char *err,
                        size_t errlen)
{
    if (!db->conn)
        return db->last_rc = -ECONNRESET;
    PGresult *res = PQexec(db->conn, text);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        PQclear(res);
        return 0;
    }
    const char *pos = res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
    int line = pos ? mig_line_of(text, strtol(pos, NULL, 10)) : 0;
    char why[768];
    int rc = pg_failed(db, res, why, sizeof(why));
    if (line > 0)
        set_err(err, errlen, "migration %s failed at line %d: %s", f->name, line, why);
    else
        set_err(err, errlen, "migration %s failed: %s", f->name, why);
    return rc;
}

static int mig_apply_one(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct mig_apply *a = arg;
    a->applied = false;
    char version[16];
    snprintf(version, sizeof(version), "%d", a->file->version);
    const char *p[] = {version, a->file->name};
    /* under the lock, a concurrent migrator has either committed this
     * version already or not started it */
    int rc = mig_lock(db, err, errlen);
    PGresult *res = rc < 0 ? NULL
                           : wm_pg_query(db, "SELECT name FROM schema_migrations WHERE version = $1",
                                         1, p, err, errlen);
    if (!res)
        return rc < 0 ? rc : db->last_rc;
    bool done = PQntuples(res) > 0;
    PQclear(res);
    if (done)
        return 0;
    char *text = mig_read(a->dir, a->file->name, err, errlen);
    if (!text)
        return -EIO;
    db->sqlstate[0] = '\0';
    rc = mig_run_text(db, a->file, text, err, errlen);
    free(text);
    if (rc == 0)
        rc = wm_pg_exec(db, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, p,
                        NULL, err, errlen);
    a->applied = rc == 0;
    return rc;
}

int wm_pg_migrate(struct wm_pg *db, const char *dir, int *applied, char *err, size_t errlen)
{
    *applied = 0;
    struct mig_list list = {0};
    int rc = mig_scan(dir, &list, err, errlen);
    if (rc == 0)
        rc = wm_pg_tx(db, mig_ensure_table, NULL, err, errlen);
    for (size_t i = 0; rc == 0 && i < list.n; i++) {
        struct mig_apply a = {.dir = dir, .file = &list.files[i]};
        rc = wm_pg_tx(db, mig_apply_one, &a, err, errlen);
        if (rc == 0 && a.applied) {
            (*applied)++;
            wm_info("pg.migration_applied", "version=%d file=%s", a.file->version, a.file->name);
        }
    }
    free(list.files);
    return rc;
}

/* Versions recorded in schema_migrations, ascending; *n = 0 if the table
 * does not exist yet. */
static int mig_recorded(struct wm_pg *db, int **versions, int *n, char *err, size_t errlen)
{
    *versions = NULL;
    *n = 0;
    PGresult *res = wm_pg_query(db, "SELECT to_regclass('schema_migrations') IS NOT NULL", 0, NULL,
                                err, errlen);
    if (!res)
        return db->last_rc;
    bool exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!exists)
        return 0;
    res = wm_pg_query(db, "SELECT version FROM schema_migrations ORDER BY version", 0, NULL, err,
                      errlen);
    if (!res)
        return db->last_rc;
    int rows = PQntuples(res);
    *versions = calloc((size_t)rows + 1, sizeof(int));
    if (!*versions) {
        PQclear(res);
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < rows; i++)
        (*versions)[i] = (int)strtol(PQgetvalue(res, i, 0), NULL, 10);
    *n = rows;
    PQclear(res);
    return 0;
}

int wm_pg_migrate_status(struct wm_pg *db, const char *dir, int *version, int *pending, char *err,
                         size_t errlen)
{
    int *recorded, n;
    int rc = mig_recorded(db, &recorded, &n, err, errlen);
    if (rc < 0)
        return rc;
    *version = n > 0 ? recorded[n - 1] : 0;
    if (dir && pending) {
        struct mig_list list = {0};
        rc = mig_scan(dir, &list, err, errlen);
        *pending = 0;
        for (size_t i = 0; rc == 0 && i < list.n; i++) {
            int v = list.files[i].version;
            if (n == 0 || !bsearch(&v, recorded, (size_t)n, sizeof(int), mig_cmp_int))
                (*pending)++;
        }
        free(list.files);
    }
    free(recorded);
    return rc;
}
