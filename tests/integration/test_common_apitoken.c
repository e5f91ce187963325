/* API tokens against a real PostgreSQL (a database of its own, migrated
 * with schemas/sql): only the hash is stored, revoked and expired tokens
 * fail like unknown ones, names are unique and checked, roles are ordered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apitoken.h"
#include "pg.h"

#include "../support/common_testdb.h"

struct fixture {
    char dbname[64];
    PGconn *admin;
    struct wm_pg *db;
};

static int setup(void **state)
{
    static int seq;
    struct fixture *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dbname, sizeof(fx->dbname), "wm_test_apitoken_%d_%d", (int)getpid(), ++seq);
    fx->admin = testdb_create(fx->dbname);
    char conninfo[1200], err[512], dir[PATH_MAX];
    snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", testdb_base_conninfo(), fx->dbname);
    fx->db = wm_pg_new_conninfo(conninfo, err, sizeof(err));
    if (!fx->db)
        fail_msg("connect: %s", err);
    testdb_sql_dir(dir, sizeof(dir));
    int applied = 0;
    if (wm_pg_migrate(fx->db, dir, &applied, err, sizeof(err)) < 0)
        fail_msg("migrate %s: %s", dir, err);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    wm_pg_free(fx->db);
    testdb_drop(fx->admin, fx->dbname);
    free(fx);
    return 0;
}

static char *one_value(struct wm_pg *db, const char *sql, const char *param)
{
    char err[512];
    const char *p[] = {param};
    PGresult *res = wm_pg_query(db, sql, param ? 1 : 0, param ? p : NULL, err, sizeof(err));
    if (!res)
        fail_msg("%s: %s", sql, err);
    char *v = strdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return v;
}

static void test_apitoken_created_token_checks_and_only_its_hash_is_stored(void **state)
{
    struct fixture *fx = *state;
    char tok[WM_APITOKEN_LEN + 1], err[512];
    int64_t id = 0;
    assert_int_equal(wm_apitoken_create(fx->db, "alice", "operator", 0, "test", tok, sizeof(tok),
                                        &id, err, sizeof(err)),
                     0);
    assert_int_equal(strlen(tok), WM_APITOKEN_LEN);
    assert_memory_equal(tok, "wmt_", 4);
    assert_true(id > 0);
    struct wm_apitoken t;
    assert_int_equal(wm_apitoken_check(fx->db, tok, &t, err, sizeof(err)), 0);
    assert_string_equal(t.name, "alice");
    assert_int_equal(t.role, WM_ROLE_OPERATOR);
    assert_int_equal(t.id, id);
    char bearer[100];
    snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
    assert_int_equal(wm_apitoken_check(fx->db, bearer, &t, err, sizeof(err)), 0);
    /* the secret appears nowhere in the table; its hash does */
    char *dump = one_value(fx->db, "SELECT string_agg(t::text, ' ') FROM api_tokens t", NULL);
    assert_null(strstr(dump, tok + 4));
    free(dump);
    char *used = one_value(fx->db, "SELECT last_used_at IS NOT NULL FROM api_tokens", NULL);
    assert_string_equal(used, "t");
    free(used);
}

static void test_apitoken_wrong_revoked_and_expired_tokens_are_refused(void **state)
{
    struct fixture *fx = *state;
    char tok[WM_APITOKEN_LEN + 1], tok2[WM_APITOKEN_LEN + 1], err[512];
    struct wm_apitoken t;
    assert_int_equal(wm_apitoken_create(fx->db, "bob", "viewer", 0, "test", tok, sizeof(tok), NULL,
                                        err, sizeof(err)),
                     0);
    char wrong[WM_APITOKEN_LEN + 1];
    memcpy(wrong, tok, sizeof(wrong));
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    assert_int_equal(wm_apitoken_check(fx->db, wrong, &t, err, sizeof(err)), -EACCES);
    assert_int_equal(wm_apitoken_check(fx->db, "", &t, err, sizeof(err)), -EACCES);
    assert_int_equal(wm_apitoken_check(fx->db, NULL, &t, err, sizeof(err)), -EACCES);

    assert_int_equal(wm_apitoken_revoke(fx->db, "bob", err, sizeof(err)), 0);
    assert_int_equal(wm_apitoken_check(fx->db, tok, &t, err, sizeof(err)), -EACCES);
    assert_int_equal(wm_apitoken_revoke(fx->db, "bob", err, sizeof(err)), -ENOENT);

    assert_int_equal(wm_apitoken_create(fx->db, "carol", "admin", 3600, "test", tok2,
                                        sizeof(tok2), NULL, err, sizeof(err)),
                     0);
    assert_int_equal(wm_apitoken_check(fx->db, tok2, &t, err, sizeof(err)), 0);
    /* an hour later (moved in the database, not waited for) */
    char *n = one_value(fx->db,
                        "UPDATE api_tokens SET created_at = created_at - interval '2 hours',"
                        " expires_at = expires_at - interval '2 hours' WHERE name = $1"
                        " RETURNING name",
                        "carol");
    free(n);
    assert_int_equal(wm_apitoken_check(fx->db, tok2, &t, err, sizeof(err)), -EACCES);
    assert_non_null(strstr(err, "invalid, revoked or expired"));
}

static void test_apitoken_bad_names_roles_and_duplicates_are_refused(void **state)
{
    struct fixture *fx = *state;
    char tok[WM_APITOKEN_LEN + 1], err[512];
    assert_int_equal(wm_apitoken_create(fx->db, "a b", "viewer", 0, "t", tok, sizeof(tok), NULL,
                                        err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "invalid token name"));
    assert_int_equal(wm_apitoken_create(fx->db, "dave", "root", 0, "t", tok, sizeof(tok), NULL,
                                        err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "role"));
    assert_int_equal(wm_apitoken_create(fx->db, "dave", "viewer", 0, "t", tok, sizeof(tok), NULL,
                                        err, sizeof(err)),
                     0);
    assert_int_equal(wm_apitoken_create(fx->db, "dave", "admin", 0, "t", tok, sizeof(tok), NULL,
                                        err, sizeof(err)),
                     -EEXIST);
    assert_non_null(strstr(err, "exists already"));
}

static void test_apitoken_roles_are_ordered(void **state)
{
    (void)state;
    assert_true(wm_apitoken_allows(WM_ROLE_ADMIN, WM_ROLE_OPERATOR));
    assert_true(wm_apitoken_allows(WM_ROLE_OPERATOR, WM_ROLE_OPERATOR));
    assert_true(wm_apitoken_allows(WM_ROLE_OPERATOR, WM_ROLE_VIEWER));
    assert_false(wm_apitoken_allows(WM_ROLE_VIEWER, WM_ROLE_OPERATOR));
    assert_false(wm_apitoken_allows(WM_ROLE_OPERATOR, WM_ROLE_ADMIN));
    assert_false(wm_apitoken_allows(WM_ROLE_NONE, WM_ROLE_VIEWER));
    assert_int_equal(wm_role_parse("operator"), WM_ROLE_OPERATOR);
    assert_int_equal(wm_role_parse("Operator"), WM_ROLE_NONE);
    assert_string_equal(wm_role_name(WM_ROLE_ADMIN), "admin");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_apitoken_created_token_checks_and_only_its_hash_is_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apitoken_wrong_revoked_and_expired_tokens_are_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_apitoken_bad_names_roles_and_duplicates_are_refused,
                                        setup, teardown),
        cmocka_unit_test(test_apitoken_roles_are_ordered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
