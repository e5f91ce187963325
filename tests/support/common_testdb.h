/* A throw-away PostgreSQL database per test, shared by the common tests
 * that need one (test_common_pg, test_common_secrets).  Every helper fails
 * the running cmocka test on error, so callers need no error paths. */
#ifndef COMMON_TESTDB_H
#define COMMON_TESTDB_H

#include <stddef.h>

#include <libpq-fe.h>

/* $WAVEMILL_PG_CONNINFO, else the local stack's database. */
const char *testdb_base_conninfo(void);

/* Runs sql on the admin connection; fails the test unless it succeeds. */
void testdb_admin_exec(PGconn *admin, const char *sql);

/* Connects to the base database and creates dbname (a name the test made
 * from numbers: CREATE DATABASE takes no parameters).  Returns the admin
 * connection, which testdb_drop() closes. */
PGconn *testdb_create(const char *dbname);

/* Drops dbname (forcing out its sessions) and closes admin. */
void testdb_drop(PGconn *admin, const char *dbname);

/* schemas/sql of the repository: $WM_REPO (tests/run sets it), else up
 * from the executable (bin/tests/ or bin/asan/tests/), else the cwd's. */
void testdb_sql_dir(char *out, size_t outlen);

#endif
