/* pki: the factory CA and the certificates it issues — they verify against
 * the CA, carry name and role, keep keys private, and every refusal leaves
 * nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../support/tls_fixture.h"
#include "pki.h"

/* ------------------------------------------------------------- helpers */

/* when the current test's CA was made: between these two instants */
static time_t ca_made[2];

static int setup(void **state)
{
    char *root = calloc(1, 256);
    ca_made[0] = time(NULL);
    assert_int_equal(tls_fixture_new(root, 256), 0);
    ca_made[1] = time(NULL);
    *state = root;
    return 0;
}

static int teardown(void **state)
{
    tls_fixture_free(*state);
    free(*state);
    return 0;
}

static char *pathf(char *buf, size_t len, const char *root, const char *rel)
{
    snprintf(buf, len, "%s/%s", root, rel);
    return buf;
}

static X509 *load_cert(const char *root, const char *rel)
{
    char p[512];
    FILE *f = fopen(pathf(p, sizeof(p), root, rel), "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *load_key(const char *root, const char *rel)
{
    char p[512];
    FILE *f = fopen(pathf(p, sizeof(p), root, rel), "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

static mode_t mode_of(const char *root, const char *rel)
{
    char p[512];
    struct stat st;
    assert_int_equal(stat(pathf(p, sizeof(p), root, rel), &st), 0);
    return st.st_mode & 07777;
}

static int exists(const char *root, const char *rel)
{
    char p[512];
    return access(pathf(p, sizeof(p), root, rel), F_OK) == 0;
}

/* X509_V_OK or the verification error of cert against CA cert ca. */
static int verify_against(X509 *ca, X509 *cert)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX_init(vctx, store, cert, NULL);
    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT);
    int ok = X509_verify_cert(vctx);
    int e = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(vctx);
    X509_STORE_CTX_free(vctx);
    X509_STORE_free(store);
    return e;
}

static void subject_field(X509 *x, int nid, char *buf, int len)
{
    buf[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), nid, buf, len);
}

static int issue(const char *root, const char *name, const char *role, const char *sans, char *err,
                 size_t errlen)
{
    struct wm_pki_issue_req req = {.name = name, .role = role, .sans = sans};
    return wm_pki_issue(root, &req, err, errlen);
}

static time_t asn1_epoch(const ASN1_TIME *t)
{
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
    return timegm(&tm);
}

/* The validity pki.h describes, computed here from when the certificate
 * was made (between t[0] and t[1]) with the test's own numbers: notBefore
 * 5 minutes (300 s) before, notAfter `days` days of 86400 s after, both
 * shifted back by backdate seconds. */
static void assert_validity(X509 *x, const time_t t[2], long days, long backdate)
{
    time_t nb = asn1_epoch(X509_get0_notBefore(x));
    time_t na = asn1_epoch(X509_get0_notAfter(x));
    assert_in_range(nb, t[0] - backdate - 300, t[1] - backdate - 300);
    assert_in_range(na, t[0] - backdate + days * 86400, t[1] - backdate + days * 86400);
}

/* --------------------------------------------------------------- tests */

static void test_init_makes_private_ten_year_ca(void **state)
{
    const char *root = *state;
    assert_int_equal(mode_of(root, "ca.key"), 0600);
    X509 *ca = load_cert(root, "ca.crt");
    EVP_PKEY *key = load_key(root, "ca.key");
    assert_int_equal(X509_check_private_key(ca, key), 1);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    assert_int_equal(X509_check_issued(ca, ca), X509_V_OK); /* self-signed */
    assert_true(EVP_PKEY_is_a(key, "EC"));
    assert_validity(ca, ca_made, 3650, 0); /* "valid 10 years" */
    X509_free(ca);
    EVP_PKEY_free(key);
}

static void test_init_refuses_to_overwrite_a_ca(void **state)
{
    const char *root = *state;
    char err[512] = "";
    X509 *before = load_cert(root, "ca.crt");
    assert_int_equal(wm_pki_init(root, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, "already exists"));
    X509 *after = load_cert(root, "ca.crt");
    assert_int_equal(X509_cmp(before, after), 0);
    X509_free(before);
    X509_free(after);
}

static void test_issued_cert_verifies_and_carries_name_and_role(void **state)
{
    const char *root = *state;
    char err[512] = "", buf[128];
    time_t made[2] = {time(NULL), 0};
    assert_int_equal(issue(root, "agent-7", "agent", NULL, err, sizeof(err)), 0);
    made[1] = time(NULL);
    X509 *ca = load_cert(root, "ca.crt");
    X509 *cert = load_cert(root, "agent-7/cert.pem");
    X509 *copy = load_cert(root, "agent-7/ca.crt");
    EVP_PKEY *key = load_key(root, "agent-7/key.pem");
    assert_int_equal(verify_against(ca, cert), X509_V_OK);
    assert_int_equal(X509_cmp(ca, copy), 0);
    assert_int_equal(X509_check_private_key(cert, key), 1);
    subject_field(cert, NID_commonName, buf, sizeof(buf));
    assert_string_equal(buf, "agent-7");
    subject_field(cert, NID_organizationalUnitName, buf, sizeof(buf));
    assert_string_equal(buf, "agent");
    assert_int_equal(X509_check_ca(cert), 0);
    uint32_t xku = X509_get_extended_key_usage(cert);
    assert_true((xku & XKU_SSL_SERVER) && (xku & XKU_SSL_CLIENT));
    assert_int_equal(X509_check_host(cert, "agent-7", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
    assert_validity(cert, made, 825, 0); /* the default: 825 days */
    X509_free(ca);
    X509_free(cert);
    X509_free(copy);
    EVP_PKEY_free(key);
}

static void test_issued_key_and_folder_are_private(void **state)
{
    const char *root = *state;
    char err[512] = "";
    mode_t old = umask(0); /* even a permissive umask must not widen them */
    int rc = issue(root, "recv-2", "receiver", NULL, err, sizeof(err));
    umask(old);
    assert_int_equal(rc, 0);
    assert_int_equal(mode_of(root, "recv-2/key.pem"), 0600);
    assert_int_equal(mode_of(root, "recv-2"), 0700);
}

static void test_custom_sans_days_and_random_serials(void **state)
{
    const char *root = *state;
    char err[512] = "";
    struct wm_pki_issue_req req = {
        .name = "w1", .role = "worker", .days = 30, .sans = "w1.factory.example,10.1.2.3,::1"};
    time_t made[2] = {time(NULL), 0};
    assert_int_equal(wm_pki_issue(root, &req, err, sizeof(err)), 0);
    made[1] = time(NULL);
    assert_int_equal(issue(root, "w2", "worker", NULL, err, sizeof(err)), 0);
    X509 *a = load_cert(root, "w1/cert.pem"), *b = load_cert(root, "w2/cert.pem");
    assert_int_equal(X509_check_host(a, "w1.factory.example", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(a, "10.1.2.3", 0), 1);
    assert_int_equal(X509_check_ip_asc(a, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(a, "127.0.0.1", 0), 0);
    assert_validity(a, made, 30, 0);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)), 0);
    X509_free(a);
    X509_free(b);
}

static void test_cert_from_another_ca_does_not_verify(void **state)
{
    const char *root = *state;
    char other[256], err[512] = "";
    assert_int_equal(tls_fixture_new(other, sizeof(other)), 0);
    assert_int_equal(issue(other, "x", "agent", NULL, err, sizeof(err)), 0);
    X509 *ca = load_cert(root, "ca.crt"), *cert = load_cert(other, "x/cert.pem");
    assert_int_equal(verify_against(ca, cert), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    X509_free(ca);
    X509_free(cert);
    tls_fixture_free(other);
}

static void test_bad_names_are_refused_and_nothing_written(void **state)
{
    const char *root = *state;
    static const char *const bad[] = {"",     ".",   "..",   "../x",  "a/b",
                                      "a..b", "a b", "a\nb", "name$", "/abs"};
    char err[512];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(issue(root, bad[i], "agent", NULL, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "bad name"));
        assert_null(strchr(err, '\n')); /* one line, whatever the name holds */
    }
    assert_int_equal(issue(root, NULL, "agent", NULL, err, sizeof(err)), -EINVAL);
    assert_false(exists(root, "x"));
    assert_false(exists(root, "a"));
    assert_true(wm_pki_name_valid("agent-01.dc2_a"));
}

static void test_bad_role_or_san_is_refused_and_nothing_written(void **state)
{
    const char *root = *state;
    char err[512] = "";
    assert_int_equal(issue(root, "n1", "admin", NULL, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad role \"admin\""));
    assert_int_equal(issue(root, "n1", NULL, NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(issue(root, "n1", "agent", "ok.example,,x", err, sizeof(err)), -EINVAL);
    assert_int_equal(issue(root, "n1", "agent", "bad host,1.2.3.4", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--san"));
    assert_int_equal(issue(root, "n1", "agent", "a,DNS:b", err, sizeof(err)), -EINVAL);
    assert_false(exists(root, "n1"));
}

static void test_missing_ca_is_refused_and_nothing_written(void **state)
{
    (void)state;
    char dir[256], err[512] = "";
    assert_int_equal(tls_fixture_new(dir, sizeof(dir)), 0);
    assert_int_equal(unlink(pathf(err, sizeof(err), dir, "ca.key")), 0);
    assert_int_equal(unlink(pathf(err, sizeof(err), dir, "ca.crt")), 0);
    err[0] = '\0';
    assert_int_equal(issue(dir, "a1", "agent", NULL, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "no CA in"));
    assert_false(exists(dir, "a1"));
    tls_fixture_free(dir);
}

static void test_reissue_is_refused_and_keeps_the_old_identity(void **state)
{
    const char *root = *state;
    char err[512] = "";
    assert_int_equal(issue(root, "dup", "agent", NULL, err, sizeof(err)), 0);
    X509 *before = load_cert(root, "dup/cert.pem");
    assert_int_equal(issue(root, "dup", "receiver", NULL, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, "already issued"));
    X509 *after = load_cert(root, "dup/cert.pem");
    assert_int_equal(X509_cmp(before, after), 0);
    X509_free(before);
    X509_free(after);
}

static void test_backdated_cert_is_expired(void **state)
{
    const char *root = *state;
    char err[512] = "";
    struct wm_pki_issue_req req = {
        .name = "old", .role = "agent", .days = 1, .backdate_s = 3 * 86400L};
    time_t made[2] = {time(NULL), 0};
    assert_int_equal(wm_pki_issue(root, &req, err, sizeof(err)), 0);
    made[1] = time(NULL);
    X509 *ca = load_cert(root, "ca.crt"), *cert = load_cert(root, "old/cert.pem");
    assert_validity(cert, made, 1, 3 * 86400L);
    assert_int_equal(verify_against(ca, cert), X509_V_ERR_CERT_HAS_EXPIRED);
    X509_free(ca);
    X509_free(cert);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_init_makes_private_ten_year_ca),
        T(test_init_refuses_to_overwrite_a_ca),
        T(test_issued_cert_verifies_and_carries_name_and_role),
        T(test_issued_key_and_folder_are_private),
        T(test_custom_sans_days_and_random_serials),
        T(test_cert_from_another_ca_does_not_verify),
        T(test_bad_names_are_refused_and_nothing_written),
        T(test_bad_role_or_san_is_refused_and_nothing_written),
        T(test_missing_ca_is_refused_and_nothing_written),
        T(test_reissue_is_refused_and_keeps_the_old_identity),
        T(test_backdated_cert_is_expired),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
