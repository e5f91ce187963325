/* pg against a real PostgreSQL: migrations, transactions, reconnects,
 * parameters.  Server from $WAVEMILL_PG_CONNINFO (default: the local stack);
 * every test works in a fresh database of its own, dropped afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pg.h"

#include "../support/common_testdb.h"

struct fixture {
    char dbname[64];
    char conninfo[1024]; /* base conninfo with dbname = the test's database */
    PGconn *admin;       /* second connection, to the base database */
    struct wm_pg *db;
    char tmpdir[64];     /* migrations written by the test, or "" */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* base conninfo (key=value or URI) with dbname replaced, as key='value'. */
static void conninfo_with_db(const char *base, const char *dbname, char *out, size_t outlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(base, &perr);
    assert_non_null(opts);
    size_t n = 0;
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;
        if (!v || !*v)
            continue;
        n += (size_t)snprintf(out + n, outlen - n, "%s='", o->keyword);
        for (const char *p = v; *p && n + 3 < outlen; p++) {
            if (*p == '\'' || *p == '\\')
                out[n++] = '\\';
            out[n++] = *p;
        }
        n += (size_t)snprintf(out + n, outlen - n, "' ");
        assert_true(n < outlen);
    }
    PQconninfoFree(opts);
}

static int setup(void **state)
{
    static int seq;
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dbname, sizeof(fx->dbname), "wm_test_pg_%d_%d", (int)getpid(), ++seq);
    fx->admin = testdb_create(fx->dbname);
    conninfo_with_db(testdb_base_conninfo(), fx->dbname, fx->conninfo, sizeof(fx->conninfo));
    char err[512];
    fx->db = wm_pg_new_conninfo(fx->conninfo, err, sizeof(err));
    if (!fx->db)
        fail_msg("wm_pg_new_conninfo: %s", err);
    wm_pg_set_limits(fx->db, 5000, 200, 5);
    *state = fx;
    return 0;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[PATH_MAX];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    wm_pg_free(fx->db);
    testdb_drop(fx->admin, fx->dbname);
    if (fx->tmpdir[0])
        rm_tree(fx->tmpdir);
    free(fx);
    return 0;
}

/* --- helpers --- */

static void exec_ok(struct wm_pg *db, const char *sql)
{
    char err[512];
    if (wm_pg_exec(db, sql, 0, NULL, NULL, err, sizeof(err)) != 0)
        fail_msg("%s: %s", sql, err);
}

/* First column of the first row as a long (e.g. count(*)). */
static long query_long(struct wm_pg *db, const char *sql)
{
    char err[512];
    PGresult *res = wm_pg_query(db, sql, 0, NULL, err, sizeof(err));
    if (!res)
        fail_msg("%s: %s", sql, err);
    assert_int_equal(PQntuples(res), 1);
    long v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static bool table_exists(struct wm_pg *db, const char *name)
{
    const char *p[] = {name};
    char err[512];
    PGresult *res = wm_pg_query(db, "SELECT to_regclass($1) IS NOT NULL", 1, p, err, sizeof(err));
    assert_non_null(res);
    bool yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return yes;
}

static const char *make_tmpdir(struct fixture *fx)
{
    snprintf(fx->tmpdir, sizeof(fx->tmpdir), "/tmp/wm_test_mig_XXXXXX");
    assert_non_null(mkdtemp(fx->tmpdir));
    return fx->tmpdir;
}

static void write_migration(const char *dir, const char *name, const char *sql)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(sql, f);
    fclose(f);
}

static int count_sql_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && len > 4 &&
            strcmp(de->d_name + len - 4, ".sql") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* A fingerprint of everything the migrations define and record. */
static char *schema_fingerprint(struct wm_pg *db)
{
    char err[512];
    PGresult *res = wm_pg_query(
        db,
        "SELECT md5(coalesce((SELECT string_agg(table_name || '.' || column_name || ':' || data_type,"
        " ',' ORDER BY table_name, ordinal_position) FROM information_schema.columns"
        " WHERE table_schema = 'public'), '') || '|' ||"
        " coalesce((SELECT string_agg(version || name || applied_at::text, ',' ORDER BY version)"
        " FROM schema_migrations), ''))",
        0, NULL, err, sizeof(err));
    if (!res)
        fail_msg("fingerprint: %s", err);
    char *fp = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return fp;
}

/* Terminates db's backend from the admin connection and waits until it is gone. */
static void kill_backend(struct fixture *fx, const char *pid)
{
    const char *p[] = {pid};
    PGresult *res = PQexecParams(fx->admin, "SELECT pg_terminate_backend($1::int, 5000)", 1, NULL,
                                 p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    PQclear(res);
}

static char *backend_pid(struct wm_pg *db)
{
    char err[256];
    PGresult *res = wm_pg_query(db, "SELECT pg_backend_pid()", 0, NULL, err, sizeof(err));
    if (!res)
        fail_msg("pg_backend_pid: %s", err);
    char *pid = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return pid;
}

/* --- migrations --- */

static void test_migrate_project_schema_twice_second_is_noop(void **state)
{
    struct fixture *fx = *state;
    char dir[PATH_MAX], err[1024];
    testdb_sql_dir(dir, sizeof(dir));
    int files = count_sql_files(dir), applied = -1;
    assert_true(files >= 2);

    assert_int_equal(wm_pg_migrate(fx->db, dir, &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, files);
    assert_true(table_exists(fx->db, "waves"));
    assert_true(table_exists(fx->db, "tasks"));
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM schema_migrations"), files);
    char *before = schema_fingerprint(fx->db);

    assert_int_equal(wm_pg_migrate(fx->db, dir, &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, 0);
    char *after = schema_fingerprint(fx->db);
    assert_string_equal(before, after);

    int version = -1, pending = -1;
    assert_int_equal(wm_pg_migrate_status(fx->db, dir, &version, &pending, err, sizeof(err)), 0);
    assert_int_equal(pending, 0);
    assert_true(version >= 2);
    free(before);
    free(after);
}

static void test_migrate_applies_in_numeric_order(void **state)
{
    struct fixture *fx = *state;
    const char *dir = make_tmpdir(fx);
    /* lexical order would run 10 before 2 */
    write_migration(dir, "10_third.sql", "INSERT INTO steps (v) VALUES (10);");
    write_migration(dir, "2_second.sql", "INSERT INTO steps (v) VALUES (2);\n");
    write_migration(dir, "1_first.sql",
                    "CREATE TABLE steps (seq serial PRIMARY KEY, v int);\n"
                    "INSERT INTO steps (v) VALUES (1);\n");
    write_migration(dir, "README.md", "not a migration");
    write_migration(dir, "x_notnumbered.sql", "SELECT broken(");
    int applied = -1, version = -1, pending = -1;
    char err[1024];
    assert_int_equal(wm_pg_migrate_status(fx->db, dir, &version, &pending, err, sizeof(err)), 0);
    assert_int_equal(version, 0);
    assert_int_equal(pending, 3);

    assert_int_equal(wm_pg_migrate(fx->db, dir, &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, 3);
    PGresult *res = wm_pg_query(fx->db, "SELECT string_agg(v::text, ',' ORDER BY seq) FROM steps",
                                0, NULL, err, sizeof(err));
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "1,2,10");
    PQclear(res);
    res = wm_pg_query(fx->db, "SELECT string_agg(version || '=' || name, ',' ORDER BY version)"
                              " FROM schema_migrations", 0, NULL, err, sizeof(err));
    assert_non_null(res);
    assert_string_equal(PQgetvalue(res, 0, 0), "1=1_first.sql,2=2_second.sql,10=10_third.sql");
    PQclear(res);
    assert_int_equal(wm_pg_migrate_status(fx->db, dir, &version, &pending, err, sizeof(err)), 0);
    assert_int_equal(version, 10);
    assert_int_equal(pending, 0);
}

static void test_migrate_broken_file_rolls_back_and_keeps_earlier(void **state)
{
    struct fixture *fx = *state;
    const char *dir = make_tmpdir(fx);
    write_migration(dir, "001_good.sql", "CREATE TABLE good (id int);\n");
    write_migration(dir, "002_broken.sql",
                    "CREATE TABLE half (id int);\n"
                    "INSERT INTO half VALUES (1);\n"
                    "INSERT INTO no_such_table VALUES (1);\n");
    write_migration(dir, "003_later.sql", "CREATE TABLE later (id int);\n");
    int applied = -1;
    char err[1024] = "";
    int rc = wm_pg_migrate(fx->db, dir, &applied, err, sizeof(err));
    assert_true(rc < 0);
    assert_int_equal(applied, 1);
    assert_non_null(strstr(err, "002_broken.sql"));
    assert_non_null(strstr(err, "no_such_table")); /* the server's message */
    assert_non_null(strstr(err, "line 3"));
    assert_true(table_exists(fx->db, "good"));
    assert_false(table_exists(fx->db, "half"));
    assert_false(table_exists(fx->db, "later"));
    assert_int_equal(query_long(fx->db, "SELECT max(version) FROM schema_migrations"), 1);

    /* fixed, the rest applies */
    write_migration(dir, "002_broken.sql", "CREATE TABLE half (id int);\n");
    assert_int_equal(wm_pg_migrate(fx->db, dir, &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, 2);
    assert_true(table_exists(fx->db, "later"));
}

static void test_migrate_rejects_duplicate_versions(void **state)
{
    struct fixture *fx = *state;
    const char *dir = make_tmpdir(fx);
    write_migration(dir, "003_a.sql", "CREATE TABLE a (id int);\n");
    write_migration(dir, "3_b.sql", "CREATE TABLE b (id int);\n");
    int applied = -1;
    char err[1024] = "";
    assert_int_equal(wm_pg_migrate(fx->db, dir, &applied, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "version 3"));
    assert_false(table_exists(fx->db, "a"));
}

struct migrator {
    const char *conninfo, *dir;
    int rc, applied;
    char err[512];
};

static void *migrate_thread(void *arg)
{
    struct migrator *m = arg;
    struct wm_pg *db = wm_pg_new_conninfo(m->conninfo, m->err, sizeof(m->err));
    m->rc = db ? wm_pg_migrate(db, m->dir, &m->applied, m->err, sizeof(m->err)) : -1;
    wm_pg_free(db);
    return NULL;
}

static void test_migrate_two_concurrent_migrators_apply_each_once(void **state)
{
    struct fixture *fx = *state;
    const char *dir = make_tmpdir(fx);
    write_migration(dir, "001_slow.sql", "CREATE TABLE t (id int); SELECT pg_sleep(0.3);\n");
    write_migration(dir, "002_add.sql", "ALTER TABLE t ADD COLUMN v text;\n");
    write_migration(dir, "003_fill.sql", "INSERT INTO t VALUES (1, 'x');\n");
    struct migrator m[2] = {{fx->conninfo, dir, 0, 0, ""}, {fx->conninfo, dir, 0, 0, ""}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &m[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (m[0].rc != 0 || m[1].rc != 0)
        fail_msg("migrators: %d %s / %d %s", m[0].rc, m[0].err, m[1].rc, m[1].err);
    assert_int_equal(m[0].applied + m[1].applied, 3);
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 1);
}

/* --- transactions --- */

struct tx_case {
    int calls;
    int fail_calls;         /* the first fail_calls calls fail */
    const char *errcode;    /* how they fail (RAISE … ERRCODE), or NULL */
    int ret;                /* returned by fn after its insert, if no errcode */
    struct fixture *fx;
};

static int tx_insert(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct tx_case *c = arg;
    c->calls++;
    int rc = wm_pg_exec(db, "INSERT INTO t (v) VALUES ('row')", 0, NULL, NULL, err, errlen);
    if (rc < 0)
        return rc;
    if (c->calls > c->fail_calls)
        return 0;
    if (!c->errcode)
        return c->ret;
    char sql[160];
    snprintf(sql, sizeof(sql),
             "DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '%s'; END $$", c->errcode);
    return wm_pg_exec(db, sql, 0, NULL, NULL, err, errlen);
}

static void test_tx_commits_when_fn_succeeds(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE t (v text)");
    struct tx_case c = {0};
    char err[512];
    assert_int_equal(wm_pg_tx(fx->db, tx_insert, &c, err, sizeof(err)), 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 1);
}

static void test_tx_rolls_back_when_fn_fails(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE t (v text)");
    struct tx_case c = {.fail_calls = 1, .ret = -42};
    char err[512];
    assert_int_equal(wm_pg_tx(fx->db, tx_insert, &c, err, sizeof(err)), -42);
    assert_int_equal(c.calls, 1); /* an ordinary failure is not retried */
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 0);

    /* a server error that is not a serialization failure: not retried either */
    struct tx_case u = {.fail_calls = 1, .errcode = "23505"};
    assert_int_equal(wm_pg_tx(fx->db, tx_insert, &u, err, sizeof(err)), -EIO);
    assert_int_equal(u.calls, 1);
    assert_string_equal(wm_pg_sqlstate(fx->db), "23505");
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 0);
}

static void test_tx_retries_serialization_failure_and_deadlock(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE t (v text)");
    char err[512];
    struct tx_case c = {.fail_calls = 2, .errcode = "40001"};
    assert_int_equal(wm_pg_tx(fx->db, tx_insert, &c, err, sizeof(err)), 0);
    assert_int_equal(c.calls, 3);
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 1);

    struct tx_case d = {.fail_calls = 1, .errcode = "40P01"};
    assert_int_equal(wm_pg_tx(fx->db, tx_insert, &d, err, sizeof(err)), 0);
    assert_int_equal(d.calls, 2);
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 2);
}

/* A real conflict, not an injected error: in REPEATABLE READ, a row
 * updated by another session after this transaction's snapshot fails the
 * update with 40001; the retry runs on a fresh snapshot. */
static int tx_conflicting_update(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct tx_case *c = arg;
    c->calls++;
    int rc = wm_pg_exec(db, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", 0, NULL, NULL, err,
                        errlen);
    if (rc == 0)
        rc = wm_pg_exec(db, "SELECT v FROM c", 0, NULL, NULL, err, errlen); /* takes the snapshot */
    if (rc == 0 && c->calls == 1) {
        PGconn *other = PQconnectdb(c->fx->conninfo);
        testdb_admin_exec(other, "UPDATE c SET v = v + 1");
        PQfinish(other);
    }
    return rc ? rc : wm_pg_exec(db, "UPDATE c SET v = v + 10", 0, NULL, NULL, err, errlen);
}

static void test_tx_retries_real_serialization_conflict(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE c (v int)");
    exec_ok(fx->db, "INSERT INTO c VALUES (0)");
    struct tx_case c = {.fx = fx};
    char err[512];
    int rc = wm_pg_tx(fx->db, tx_conflicting_update, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("wm_pg_tx: %d %s", rc, err);
    assert_int_equal(c.calls, 2);
    assert_int_equal(query_long(fx->db, "SELECT v FROM c"), 11); /* both updates, none lost */
}

static void test_tx_gives_up_after_tx_retries(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE t (v text)");
    wm_pg_set_limits(fx->db, -1, -1, 2);
    struct tx_case c = {.fail_calls = 100, .errcode = "40001"};
    char err[512];
    assert_int_equal(wm_pg_tx(fx->db, tx_insert, &c, err, sizeof(err)), -EIO);
    assert_int_equal(c.calls, 3);
    assert_non_null(strstr(err, "gave up after 3 attempts"));
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 0);
}

static int tx_ignores_error(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    (void)arg;
    wm_pg_exec(db, "INSERT INTO t (v) VALUES ('row')", 0, NULL, NULL, err, errlen);
    wm_pg_exec(db, "SELECT 1/0", 0, NULL, NULL, err, errlen);
    return 0; /* wrongly claims success */
}

static void test_tx_commit_of_aborted_transaction_is_an_error(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE t (v text)");
    char err[512];
    assert_int_equal(wm_pg_tx(fx->db, tx_ignores_error, NULL, err, sizeof(err)), -EIO);
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 0);
}

/* --- reconnect --- */

static void test_query_after_backend_killed_reports_reset_then_works(void **state)
{
    struct fixture *fx = *state;
    char *pid = backend_pid(fx->db);
    kill_backend(fx, pid);
    char err[512] = "";
    PGconn *before = wm_pg_conn(fx->db);
    (void)before;
    assert_int_equal(wm_pg_exec(fx->db, "SELECT 1", 0, NULL, NULL, err, sizeof(err)), -ECONNRESET);
    assert_int_equal(wm_pg_errno(fx->db), -ECONNRESET);
    const char *st = wm_pg_sqlstate(fx->db);
    assert_true(strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0);
    assert_non_null(strstr(err, "reconnected"));
    /* the next statement runs on the new connection */
    assert_int_equal(query_long(fx->db, "SELECT 41 + 1"), 42);
    assert_int_equal(wm_pg_errno(fx->db), 0);
    char *pid2 = backend_pid(fx->db);
    assert_string_not_equal(pid, pid2);
    free(pid);
    free(pid2);
}

static void test_breakage_seen_through_raw_conn_is_reported_not_hidden(void **state)
{
    struct fixture *fx = *state;
    char *pid = backend_pid(fx->db);
    kill_backend(fx, pid);
    /* someone using the raw connection finds it closed first */
    PQclear(PQexec(wm_pg_conn(fx->db), "SELECT 1"));
    assert_int_not_equal(PQstatus(wm_pg_conn(fx->db)), CONNECTION_OK);
    char err[512] = "";
    assert_int_equal(wm_pg_exec(fx->db, "SELECT 1", 0, NULL, NULL, err, sizeof(err)), -ECONNRESET);
    assert_int_equal(query_long(fx->db, "SELECT 7"), 7);
    free(pid);
}

static void test_empty_query_and_copy_are_refused_cleanly(void **state)
{
    struct fixture *fx = *state;
    char err[512] = "";
    assert_int_equal(wm_pg_exec(fx->db, "", 0, NULL, NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(query_long(fx->db, "SELECT 1"), 1);
    exec_ok(fx->db, "CREATE TABLE t (v text)");
    assert_int_equal(wm_pg_exec(fx->db, "COPY t FROM STDIN", 0, NULL, NULL, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "COPY"));
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 0);
}

static int tx_killed_once(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct tx_case *c = arg;
    c->calls++;
    int rc = wm_pg_exec(db, "INSERT INTO t (v) VALUES ('row')", 0, NULL, NULL, err, errlen);
    if (rc < 0)
        return rc;
    if (c->calls == 1) {
        char *pid = backend_pid(db);
        kill_backend(c->fx, pid);
        free(pid);
    }
    return wm_pg_exec(db, "INSERT INTO t (v) VALUES ('row2')", 0, NULL, NULL, err, errlen);
}

static void test_tx_survives_killed_backend_by_retrying(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE t (v text)");
    struct tx_case c = {.fx = fx};
    char err[512];
    int rc = wm_pg_tx(fx->db, tx_killed_once, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("wm_pg_tx: %d %s", rc, err);
    assert_int_equal(c.calls, 2);
    /* the first attempt's insert died with its session */
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM t"), 2);
}

static void test_connect_refused_is_bounded_and_hides_password(void **state)
{
    (void)state;
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *logf = open_memstream(&logbuf, &loglen);
    wm_log_set_stream(logf);
    wm_log_set_level(WM_LOG_DEBUG);
    struct wm_config *cfg = wm_config_new();
    char err[512] = "";
    assert_int_equal(wm_config_set(cfg, "pg.conninfo",
                                   "host=127.0.0.1 port=1 dbname=x user=u password=hunter2secret",
                                   "test", err, sizeof(err)), 0);
    assert_int_equal(wm_config_set(cfg, "pg.connect_timeout", "400ms", "test", err, sizeof(err)), 0);
    assert_int_equal(wm_config_set(cfg, "pg.reconnect_max", "100ms", "test", err, sizeof(err)), 0);
    int64_t t0 = now_ms();
    struct wm_pg *db = wm_pg_new(cfg, err, sizeof(err));
    int64_t took = now_ms() - t0;
    wm_log_set_stream(NULL);
    wm_log_set_level(WM_LOG_INFO);
    fclose(logf);
    assert_null(db);
    /* retried, but not for long: within pg.connect_timeout (400 ms), with
     * room for a loaded machine, below the 10 s default */
    assert_true(took >= 300 && took < 8000);
    assert_non_null(strstr(err, "cannot connect to PostgreSQL at host=127.0.0.1 port=1: "));
    assert_non_null(strstr(err, "Connection refused"));
    assert_null(strstr(err, "hunter2secret"));
    assert_non_null(strstr(logbuf, "pg.connect_retry"));
    assert_null(strstr(logbuf, "hunter2secret"));
    free(logbuf);
    wm_config_free(cfg);
}

static void test_connect_to_missing_database_fails_fast(void **state)
{
    (void)state;
    char conninfo[1024], err[512] = "";
    conninfo_with_db(testdb_base_conninfo(), "wm_test_no_such_db", conninfo, sizeof(conninfo));
    int64_t t0 = now_ms();
    struct wm_pg *db = wm_pg_new_conninfo(conninfo, err, sizeof(err)); /* 10 s timeout */
    assert_null(db);
    assert_true(now_ms() - t0 < 8000); /* a refusal is not retried for the 10 s */
    assert_non_null(strstr(err, "wm_test_no_such_db"));
    assert_non_null(strstr(err, "does not exist"));
}

/* --- parameters --- */

static void test_hostile_text_params_are_stored_verbatim(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE x (id int PRIMARY KEY, v text)");
    static const char *const hostile[] = {
        "'; drop table x; --", "Robert'); DROP TABLE x;--", "\\'\\\\ $1 $$ \" ` ;",
        "line\nbreak\ttab", "ünïcødé ✓", "",
    };
    char err[512], id[16];
    size_t n = sizeof(hostile) / sizeof(hostile[0]);
    for (size_t i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%zu", i);
        const char *p[] = {id, hostile[i]};
        long rows = 0;
        assert_int_equal(wm_pg_exec(fx->db, "INSERT INTO x (id, v) VALUES ($1, $2)", 2, p, &rows,
                                    err, sizeof(err)), 0);
        assert_int_equal(rows, 1);
    }
    const char *p[] = {"99", NULL}; /* NULL is SQL NULL */
    assert_int_equal(wm_pg_exec(fx->db, "INSERT INTO x (id, v) VALUES ($1, $2)", 2, p, NULL, err,
                                sizeof(err)), 0);
    PGresult *res = wm_pg_query(fx->db, "SELECT v FROM x ORDER BY id", 0, NULL, err, sizeof(err));
    assert_non_null(res);
    assert_int_equal(PQntuples(res), (int)n + 1);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(PQgetvalue(res, (int)i, 0), hostile[i]);
    assert_true(PQgetisnull(res, (int)n, 0));
    PQclear(res);
    assert_true(table_exists(fx->db, "x"));
}

static void test_server_error_keeps_connection_and_sqlstate(void **state)
{
    struct fixture *fx = *state;
    exec_ok(fx->db, "CREATE TABLE u (id int PRIMARY KEY)");
    exec_ok(fx->db, "INSERT INTO u VALUES (1)");
    char *pid = backend_pid(fx->db);
    char err[512] = "";
    assert_int_equal(wm_pg_exec(fx->db, "INSERT INTO u VALUES (1)", 0, NULL, NULL, err, sizeof(err)),
                     -EIO);
    assert_string_equal(wm_pg_sqlstate(fx->db), "23505");
    assert_non_null(strstr(err, "duplicate key"));
    assert_int_equal(query_long(fx->db, "SELECT count(*) FROM u"), 1);
    assert_string_equal(wm_pg_sqlstate(fx->db), "");
    char *pid2 = backend_pid(fx->db);
    assert_string_equal(pid, pid2); /* no reconnect for an ordinary error */
    free(pid);
    free(pid2);
}

int main(void)
{
    wm_log_set_component("test_pg");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_project_schema_twice_second_is_noop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migrate_applies_in_numeric_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_broken_file_rolls_back_and_keeps_earlier,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_rejects_duplicate_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_two_concurrent_migrators_apply_each_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_commits_when_fn_succeeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_rolls_back_when_fn_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_retries_serialization_failure_and_deadlock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tx_retries_real_serialization_conflict, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tx_gives_up_after_tx_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_commit_of_aborted_transaction_is_an_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_after_backend_killed_reports_reset_then_works,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_breakage_seen_through_raw_conn_is_reported_not_hidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_query_and_copy_are_refused_cleanly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tx_survives_killed_backend_by_retrying, setup,
                                        teardown),
        cmocka_unit_test(test_connect_refused_is_bounded_and_hides_password),
        cmocka_unit_test(test_connect_to_missing_database_fails_fast),
        cmocka_unit_test_setup_teardown(test_hostile_text_params_are_stored_verbatim, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_error_keeps_connection_and_sqlstate, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
