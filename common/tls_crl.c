/* tls_crl — see tls_crl.h */
#include "tls_crl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/pem.h>

#define CRL_PATH_MAX 4200

struct tls_crl {
    char path[CRL_PATH_MAX], ca_path[CRL_PATH_MAX];
    pthread_rwlock_t lock;
    char **serials; /* sorted hex */
    size_t n;
    struct stat seen; /* of the file last loaded (st_ino 0: none) */
};

static int cmp_hex(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *serial_hex(const ASN1_INTEGER *sn)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
    char *h = bn ? BN_bn2hex(bn) : NULL;
    char *out = h ? strdup(h) : NULL;
    OPENSSL_free(h);
    BN_free(bn);
    return out;
}

static void serials_free(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* Reads and checks path; the sorted serials into *out. */
static int crl_read(const struct tls_crl *c, char ***out, size_t *n, char *err, size_t errlen)
{
    FILE *f = fopen(c->path, "re"), *g = fopen(c->ca_path, "re");
    X509_CRL *crl = f ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
    X509 *ca = g ? PEM_read_X509(g, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    int rc = 0;
    if (!crl || !ca || X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
        snprintf(err, errlen, "%s is not a CRL signed by %s", c->path, c->ca_path);
        rc = -EINVAL;
    }
    STACK_OF(X509_REVOKED) *rev = rc == 0 ? X509_CRL_get_REVOKED(crl) : NULL;
    int k = rev ? sk_X509_REVOKED_num(rev) : 0;
    char **s = calloc((size_t)k + 1, sizeof(*s));
    for (int i = 0; rc == 0 && i < k; i++)
        if (!s ||
            !(s[i] = serial_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rev, i)))))
            rc = -ENOMEM;
    if (rc == 0 && !s)
        rc = -ENOMEM;
    if (rc == 0) {
        qsort(s, (size_t)k, sizeof(*s), cmp_hex);
        *out = s, *n = (size_t)k;
    } else {
        serials_free(s, s ? (size_t)k : 0);
    }
    X509_CRL_free(crl);
    X509_free(ca);
    return rc;
}

struct tls_crl *tls_crl_new(const char *dir, char *err, size_t errlen)
{
    struct tls_crl *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(c->path, sizeof(c->path), "%s/crl.pem", dir);
    snprintf(c->ca_path, sizeof(c->ca_path), "%s/ca.crt", dir);
    pthread_rwlock_init(&c->lock, NULL);
    if (tls_crl_refresh(c, err, errlen) < 0) {
        tls_crl_free(c);
        return NULL;
    }
    return c;
}

void tls_crl_free(struct tls_crl *c)
{
    if (!c)
        return;
    serials_free(c->serials, c->n);
    pthread_rwlock_destroy(&c->lock);
    free(c);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

int tls_crl_refresh(struct tls_crl *c, char *err, size_t errlen)
{
    struct stat st;
    if (stat(c->path, &st) < 0)
        return 0; /* no CRL (yet): the last one loaded stays, as a deletion is no un-revocation */
    pthread_rwlock_rdlock(&c->lock);
    bool same = same_file(&st, &c->seen);
    pthread_rwlock_unlock(&c->lock);
    if (same)
        return 0;
    char **s = NULL;
    size_t n = 0;
    int rc = crl_read(c, &s, &n, err, errlen);
    if (rc < 0)
        return rc;
    pthread_rwlock_wrlock(&c->lock);
    char **old = c->serials;
    size_t oldn = c->n;
    c->serials = s, c->n = n, c->seen = st;
    pthread_rwlock_unlock(&c->lock);
    serials_free(old, oldn);
    return 0;
}

bool tls_crl_revoked(struct tls_crl *c, X509 *cert)
{
    char *h = serial_hex(X509_get0_serialNumber(cert));
    if (!h)
        return true; /* cannot tell: refuse */
    pthread_rwlock_rdlock(&c->lock);
    bool hit = c->n && bsearch(&h, c->serials, c->n, sizeof(*c->serials), cmp_hex) != NULL;
    pthread_rwlock_unlock(&c->lock);
    free(h);
    return hit;
}

size_t tls_crl_count(struct tls_crl *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = c->n;
    pthread_rwlock_unlock(&c->lock);
    return n;
}
