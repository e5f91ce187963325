/* pki_crl — revocation: DIR/revoked.txt and the CRL made from it (pki.h).
 *
 * revoked.txt holds one line per revoked certificate, "SERIAL UNIXTIME
 * NAME" (serial in hex), so the CRL can be rebuilt complete every time;
 * crl.pem is written to a temporary file and renamed, so a daemon reloading
 * it never reads half a file. */
#include "pki.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CRL_PATH_MAX 4096

/* The hex serial of DIR/NAME/cert.pem, checked to be the CA's. */
static int crl_serial_of(const char *dir, const char *name, X509 *ca, char *hex, size_t hexlen,
                         char *err, size_t errlen)
{
    char path[CRL_PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/cert.pem", dir, name);
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "no certificate %s to revoke: %s", path, strerror(errno));
        return -ENOENT;
    }
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    int rc = 0;
    if (!cert || X509_verify(cert, X509_get0_pubkey(ca)) != 1) {
        snprintf(err, errlen, "%s is not a certificate of the CA in %s", path, dir);
        rc = -EINVAL;
    } else {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        char *h = bn ? BN_bn2hex(bn) : NULL;
        snprintf(hex, hexlen, "%s", h ? h : "");
        rc = h ? 0 : -ENOMEM;
        OPENSSL_free(h);
        BN_free(bn);
    }
    X509_free(cert);
    return rc;
}

/* Appends "serial now name" to DIR/revoked.txt unless serial is there. */
static int crl_record(const char *dir, const char *serial, const char *name, char *err,
                      size_t errlen)
{
    char path[CRL_PATH_MAX], line[512];
    snprintf(path, sizeof(path), "%s/revoked.txt", dir);
    FILE *f = fopen(path, "a+e");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    int found = 0;
    rewind(f);
    while (!found && fgets(line, sizeof(line), f)) {
        size_t n = strcspn(line, " ");
        found = n == strlen(serial) && strncmp(line, serial, n) == 0;
    }
    int ok = found || fprintf(f, "%s %lld %s\n", serial, (long long)time(NULL), name) > 0;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    fclose(f);
    if (!ok) {
        snprintf(err, errlen, "cannot write %s", path);
        return -EIO;
    }
    return 0;
}

static int crl_add_revoked(X509_CRL *crl, const char *serial_hex, long long when)
{
    BIGNUM *bn = NULL;
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)when);
    ASN1_INTEGER *sn = BN_hex2bn(&bn, serial_hex) ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = r && t && sn && X509_REVOKED_set_serialNumber(r, sn) &&
             X509_REVOKED_set_revocationDate(r, t) && X509_CRL_add0_revoked(crl, r);
    if (!ok)
        X509_REVOKED_free(r);
    ASN1_INTEGER_free(sn);
    ASN1_TIME_free(t);
    BN_free(bn);
    return ok ? 0 : -ENOMEM;
}

/* A CRL of every serial in DIR/revoked.txt, signed by the CA. */
static X509_CRL *crl_build(const char *dir, X509 *ca, EVP_PKEY *key)
{
    char path[CRL_PATH_MAX], serial[256], name[256];
    long long when;
    snprintf(path, sizeof(path), "%s/revoked.txt", dir);
    FILE *f = fopen(path, "re");
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
    ASN1_TIME *next = X509_time_adj_ex(NULL, WM_PKI_CRL_DAYS, 0, NULL);
    ASN1_INTEGER *number = ASN1_INTEGER_new();
    int ok = f && crl && now && next && number && X509_CRL_set_version(crl, 1) &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
             X509_CRL_set1_lastUpdate(crl, now) && X509_CRL_set1_nextUpdate(crl, next) &&
             ASN1_INTEGER_set_int64(number, (int64_t)time(NULL));
    while (ok && fscanf(f, "%255s %lld %255s", serial, &when, name) == 3)
        ok = crl_add_revoked(crl, serial, when) == 0;
    ok = ok && X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, 0) == 1 &&
         X509_CRL_sort(crl) && X509_CRL_sign(crl, key, EVP_sha256()) > 0;
    if (f)
        fclose(f);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    ASN1_INTEGER_free(number);
    if (!ok) {
        X509_CRL_free(crl);
        return NULL;
    }
    return crl;
}

/* Writes crl to path through path.tmp + rename (readers see old or new). */
static int crl_write(const char *path, X509_CRL *crl)
{
    char tmp[CRL_PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    int ok = PEM_write_X509_CRL(f, crl) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -EIO;
    }
    return 0;
}

/* Copies the CRL into every identity folder (one holding ca.crt). */
static int crl_distribute(const char *dir, X509_CRL *crl, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
        return -errno;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char ca[CRL_PATH_MAX], out[CRL_PATH_MAX];
        if (de->d_name[0] == '.')
            continue;
        snprintf(ca, sizeof(ca), "%s/%s/ca.crt", dir, de->d_name);
        snprintf(out, sizeof(out), "%s/%s/crl.pem", dir, de->d_name);
        if (access(ca, F_OK) == 0 && (rc = crl_write(out, crl)) < 0)
            snprintf(err, errlen, "cannot write %s: %s", out, strerror(-rc));
    }
    closedir(d);
    return rc;
}

int wm_pki_revoke(const char *dir, const char *name, char *err, size_t errlen)
{
    char serial[256], path[CRL_PATH_MAX];
    X509 *ca = NULL;
    EVP_PKEY *key = NULL;
    if (!dir || !wm_pki_name_valid(name)) {
        snprintf(err, errlen, "bad identity name to revoke");
        return -EINVAL;
    }
    ERR_clear_error();
    int rc = wm_pki_load_ca(dir, &ca, &key, err, errlen);
    if (rc == 0)
        rc = crl_serial_of(dir, name, ca, serial, sizeof(serial), err, errlen);
    if (rc == 0)
        rc = crl_record(dir, serial, name, err, errlen);
    X509_CRL *crl = rc == 0 ? crl_build(dir, ca, key) : NULL;
    if (rc == 0 && !crl) {
        snprintf(err, errlen, "cannot build the CRL of %s", dir);
        rc = -EIO;
    }
    snprintf(path, sizeof(path), "%s/crl.pem", dir);
    if (rc == 0 && (rc = crl_write(path, crl)) < 0)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
    if (rc == 0)
        rc = crl_distribute(dir, crl, err, errlen);
    X509_CRL_free(crl);
    X509_free(ca);
    EVP_PKEY_free(key);
    return rc;
}
