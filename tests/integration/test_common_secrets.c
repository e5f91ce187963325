/* secrets: the credential store against the real PostgreSQL of the local
 * stack, in a database of its own (wm_test_secrets_<pid>) migrated with the
 * project's schema: round trip, names-only listing, removal, wrong master
 * key, tampering, key file permissions, rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pg.h"
#include "secrets.h"

#include "../support/common_testdb.h"

#define VALUE "s3cr3t-Value-\xe2\x9c\x93-0123456789"

struct fixture {
    char dbname[64];
    PGconn *admin;
    struct wm_pg *db;
    char dir[64];
    char key1[PATH_MAX], key2[PATH_MAX];
};

static void write_key(const char *path, mode_t mode, unsigned char fill)
{
    unsigned char key[32];
    int fd = open("/dev/urandom", O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, key, 32), 32);
    close(fd);
    key[0] = fill; /* two keys never collide even by chance */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, key, 32), 32);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
    static int seq;
    struct fixture *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dbname, sizeof(fx->dbname), "wm_test_secrets_%d_%d", (int)getpid(), ++seq);
    fx->admin = testdb_create(fx->dbname);
    char conninfo[1200], err[512], dir[PATH_MAX];
    /* in a key=value conninfo the last dbname wins */
    snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", testdb_base_conninfo(), fx->dbname);
    fx->db = wm_pg_new_conninfo(conninfo, err, sizeof(err));
    if (!fx->db)
        fail_msg("connect: %s", err);
    testdb_sql_dir(dir, sizeof(dir));
    int applied = 0;
    if (wm_pg_migrate(fx->db, dir, &applied, err, sizeof(err)) < 0)
        fail_msg("migrate %s: %s", dir, err);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/wm_secrets.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->key1, sizeof(fx->key1), "%s/key1", fx->dir);
    snprintf(fx->key2, sizeof(fx->key2), "%s/key2", fx->dir);
    write_key(fx->key1, 0600, 1);
    write_key(fx->key2, 0400, 2);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    wm_pg_free(fx->db);
    char path[PATH_MAX];
    testdb_drop(fx->admin, fx->dbname);
    static const char *const files[] = {"key1", "key2", "key3"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", fx->dir, files[i]);
        unlink(path);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static struct wm_secrets *open_store(struct fixture *fx, const char *key)
{
    char err[512];
    struct wm_secrets *s = wm_secrets_open(fx->db, key, err, sizeof(err));
    if (!s)
        fail_msg("open: %s", err);
    return s;
}

static void check_secret(struct wm_secrets *s, const char *name, const char *want)
{
    char err[512];
    wm_secret *v = NULL;
    int rc = wm_secrets_get(s, name, &v, err, sizeof(err));
    if (rc < 0)
        fail_msg("get %s: %s", name, err);
    size_t len;
    const char *got = wm_secret_reveal(v, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    wm_secret_free(v);
}

static int db_count(struct fixture *fx, const char *sql)
{
    char err[256];
    PGresult *r = wm_pg_query(fx->db, sql, 0, NULL, err, sizeof(err));
    if (!r)
        fail_msg("%s: %s", sql, err);
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static void test_set_get_round_trip_and_nothing_in_clear(void **state)
{
    struct fixture *fx = *state;
    struct wm_secrets *s = open_store(fx, fx->key1);
    char err[512];
    assert_int_equal(wm_secrets_set(s, "aws/prod", VALUE, strlen(VALUE), err, sizeof(err)), 0);
    check_secret(s, "aws/prod", VALUE);
    /* replacing keeps one row and the latest value */
    assert_int_equal(wm_secrets_set(s, "aws/prod", "second-value", 12, err, sizeof(err)), 0);
    check_secret(s, "aws/prod", "second-value");
    assert_int_equal(db_count(fx, "SELECT count(*) FROM credentials"), 1);
    /* the table holds ciphertext: the value is not in it, the key id is */
    assert_int_equal(db_count(fx, "SELECT count(*) FROM credentials WHERE position("
                                  "'second-value'::bytea in ciphertext) > 0"),
                     0);
    char want[128];
    snprintf(want, sizeof(want), "SELECT count(*) FROM credentials WHERE key_id = '%s'",
             wm_secrets_key_id(s));
    assert_int_equal(db_count(fx, want), 1);
    assert_int_equal(db_count(fx, "SELECT count(*) FROM credentials WHERE length(nonce) = 12 AND "
                                  "length(ciphertext) = 12 + 16"),
                     1);
    wm_secret *v = NULL;
    assert_int_equal(wm_secrets_get(s, "nope", &v, err, sizeof(err)), -ENOENT);
    assert_null(v);
    assert_int_equal(wm_secrets_set(s, "bad name", "x", 1, err, sizeof(err)), -EINVAL);
    assert_int_equal(wm_secrets_set(s, "empty", "", 0, err, sizeof(err)), -EINVAL);
    wm_secrets_close(s);
}

static void test_list_gives_names_only_and_rm_removes(void **state)
{
    struct fixture *fx = *state;
    struct wm_secrets *s = open_store(fx, fx->key1);
    char err[512];
    assert_int_equal(wm_secrets_set(s, "b-ssh", "ssh-private-key", 15, err, sizeof(err)), 0);
    assert_int_equal(wm_secrets_set(s, "a-cloud", "cloud-key-value", 15, err, sizeof(err)), 0);
    wm_secrets_close(s);
    /* listing needs no master key and never decrypts */
    s = open_store(fx, NULL);
    struct wm_secrets_entry *list;
    size_t n;
    assert_int_equal(wm_secrets_list(s, &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "a-cloud");
    assert_string_equal(list[1].name, "b-ssh");
    assert_int_equal(strlen(list[0].key_id), 16);
    wm_secrets_list_free(list);
    wm_secret *v = NULL;
    assert_int_equal(wm_secrets_get(s, "a-cloud", &v, err, sizeof(err)), -EINVAL);
    assert_int_equal(wm_secrets_rm(s, "a-cloud", err, sizeof(err)), 0);
    assert_int_equal(wm_secrets_rm(s, "a-cloud", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "no secret named a-cloud"));
    assert_int_equal(wm_secrets_list(s, &list, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    wm_secrets_list_free(list);
    wm_secrets_close(s);
}

static void test_wrong_master_key_is_named_and_decrypts_nothing(void **state)
{
    struct fixture *fx = *state;
    struct wm_secrets *s = open_store(fx, fx->key1);
    char err[512];
    assert_int_equal(wm_secrets_set(s, "db", VALUE, strlen(VALUE), err, sizeof(err)), 0);
    wm_secrets_close(s);
    s = open_store(fx, fx->key2);
    wm_secret *v = NULL;
    assert_int_equal(wm_secrets_get(s, "db", &v, err, sizeof(err)), -EKEYREJECTED);
    assert_null(v);
    assert_non_null(strstr(err, "sealed with master key"));
    assert_null(strstr(err, "s3cr3t"));
    wm_secrets_close(s);
}

static void test_tampered_ciphertext_nonce_or_name_refused(void **state)
{
    struct fixture *fx = *state;
    struct wm_secrets *s = open_store(fx, fx->key1);
    char err[512];
    assert_int_equal(wm_secrets_set(s, "x1", VALUE, strlen(VALUE), err, sizeof(err)), 0);
    assert_int_equal(wm_secrets_set(s, "x2", "other-value", 11, err, sizeof(err)), 0);
    /* flip one bit of x1's ciphertext */
    assert_int_equal(wm_pg_exec(fx->db,
                                "UPDATE credentials SET ciphertext = set_byte(ciphertext, 3,"
                                " get_byte(ciphertext, 3) # 1) WHERE name = 'x1'",
                                0, NULL, NULL, err, sizeof(err)),
                     0);
    wm_secret *v = NULL;
    assert_int_equal(wm_secrets_get(s, "x1", &v, err, sizeof(err)), -EBADMSG);
    assert_null(v);
    assert_non_null(strstr(err, "failed authentication"));
    /* x2's (valid) ciphertext and nonce copied onto x1: AAD is the name, so it fails */
    assert_int_equal(wm_pg_exec(fx->db,
                                "UPDATE credentials c SET nonce = o.nonce, ciphertext ="
                                " o.ciphertext FROM credentials o WHERE c.name = 'x1' AND"
                                " o.name = 'x2'",
                                0, NULL, NULL, err, sizeof(err)),
                     0);
    assert_int_equal(wm_secrets_get(s, "x1", &v, err, sizeof(err)), -EBADMSG);
    assert_null(v);
    /* a truncated ciphertext is refused too */
    assert_int_equal(wm_pg_exec(fx->db,
                                "UPDATE credentials SET ciphertext = substring(ciphertext"
                                " from 1 for 5) WHERE name = 'x2'",
                                0, NULL, NULL, err, sizeof(err)),
                     0);
    assert_int_equal(wm_secrets_get(s, "x2", &v, err, sizeof(err)), -EBADMSG);
    wm_secrets_close(s);
}

static void test_key_file_readable_by_others_refused(void **state)
{
    struct fixture *fx = *state;
    char err[512], path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/key3", fx->dir);
    write_key(path, 0644, 3);
    assert_null(wm_secrets_open(fx->db, path, err, sizeof(err)));
    assert_non_null(strstr(err, "0644"));
    unsigned char key[32];
    assert_int_equal(wm_secrets_load_key(path, key, err, sizeof(err)), -EPERM);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(wm_secrets_load_key(path, key, err, sizeof(err)), -EPERM);
    /* a key of the wrong size is refused, as is a missing file */
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(truncate(path, 31), 0);
    assert_int_equal(wm_secrets_load_key(path, key, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "exactly 32 bytes"));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(wm_secrets_load_key(path, key, err, sizeof(err)), -ENOENT);
}

static void test_rotate_moves_every_secret_to_the_new_key(void **state)
{
    struct fixture *fx = *state;
    struct wm_secrets *s = open_store(fx, fx->key1);
    char err[512], old_id[17];
    snprintf(old_id, sizeof(old_id), "%s", wm_secrets_key_id(s));
    assert_int_equal(wm_secrets_set(s, "one", "value-one", 9, err, sizeof(err)), 0);
    assert_int_equal(wm_secrets_set(s, "two", "value-two", 9, err, sizeof(err)), 0);
    assert_int_equal(wm_secrets_set(s, "three", VALUE, strlen(VALUE), err, sizeof(err)), 0);
    int count = 0;
    if (wm_secrets_rotate(s, fx->key2, &count, err, sizeof(err)) < 0)
        fail_msg("rotate: %s", err);
    assert_int_equal(count, 3);
    assert_string_not_equal(wm_secrets_key_id(s), old_id);
    check_secret(s, "three", VALUE); /* the same store now uses the new key */
    wm_secrets_close(s);
    s = open_store(fx, fx->key2);
    check_secret(s, "one", "value-one");
    check_secret(s, "two", "value-two");
    check_secret(s, "three", VALUE);
    wm_secrets_close(s);
    s = open_store(fx, fx->key1);
    wm_secret *v = NULL;
    assert_int_equal(wm_secrets_get(s, "one", &v, err, sizeof(err)), -EKEYREJECTED);
    /* rotating with the wrong current key changes nothing */
    assert_true(wm_secrets_rotate(s, fx->key2, &count, err, sizeof(err)) < 0);
    wm_secrets_close(s);
    s = open_store(fx, fx->key2);
    check_secret(s, "two", "value-two");
    wm_secrets_close(s);
}

static void test_rotate_is_all_or_nothing(void **state)
{
    struct fixture *fx = *state;
    struct wm_secrets *s = open_store(fx, fx->key1);
    char err[512];
    assert_int_equal(wm_secrets_set(s, "a", "value-a1", 8, err, sizeof(err)), 0);
    assert_int_equal(wm_secrets_set(s, "b", "value-b1", 8, err, sizeof(err)), 0);
    assert_int_equal(wm_secrets_set(s, "c", "value-c1", 8, err, sizeof(err)), 0);
    /* "b" is corrupt: rotation must stop and leave "a" under the old key */
    assert_int_equal(wm_pg_exec(fx->db,
                                "UPDATE credentials SET ciphertext = set_byte(ciphertext, 0,"
                                " get_byte(ciphertext, 0) # 255) WHERE name = 'b'",
                                0, NULL, NULL, err, sizeof(err)),
                     0);
    assert_int_equal(wm_secrets_rotate(s, fx->key2, NULL, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "secret b"));
    check_secret(s, "a", "value-a1");
    check_secret(s, "c", "value-c1");
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM credentials WHERE key_id = '%s'",
             wm_secrets_key_id(s));
    assert_int_equal(db_count(fx, sql), 3);
    wm_secrets_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_get_round_trip_and_nothing_in_clear, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_gives_names_only_and_rm_removes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master_key_is_named_and_decrypts_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tampered_ciphertext_nonce_or_name_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_file_readable_by_others_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_moves_every_secret_to_the_new_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotate_is_all_or_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
