/* Throw-away test databases; see common_testdb.h.  Only libpq and cmocka
 * here: this file is linked into every test program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common_testdb.h"

#define DEFAULT_CONNINFO "host=127.0.0.1 port=15432 dbname=wavemill user=wavemill"

const char *testdb_base_conninfo(void)
{
    const char *c = getenv("WAVEMILL_PG_CONNINFO");
    return c && *c ? c : DEFAULT_CONNINFO;
}

void testdb_admin_exec(PGconn *admin, const char *sql)
{
    PGresult *res = PQexec(admin, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(admin));
    PQclear(res);
}

PGconn *testdb_create(const char *dbname)
{
    PGconn *admin = PQconnectdb(testdb_base_conninfo());
    if (PQstatus(admin) != CONNECTION_OK)
        fail_msg("cannot reach PostgreSQL (%s): %s", testdb_base_conninfo(),
                 PQerrorMessage(admin));
    char sql[160];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
    testdb_admin_exec(admin, sql);
    return admin;
}

void testdb_drop(PGconn *admin, const char *dbname)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    testdb_admin_exec(admin, sql);
    PQfinish(admin);
}

void testdb_sql_dir(char *out, size_t outlen)
{
    const char *repo = getenv("WM_REPO");
    if (repo && *repo) {
        snprintf(out, outlen, "%s/schemas/sql", repo);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    static const char *const rel[] = {"/../../schemas/sql", "/../../../schemas/sql"};
    struct stat st;
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        if (snprintf(out, outlen, "%s%s", exe, rel[i]) < (int)outlen && stat(out, &st) == 0)
            return;
    }
    snprintf(out, outlen, "schemas/sql");
}
