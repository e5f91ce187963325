/* sigv4 — AWS Signature Version 4; see sigv4.h. */
#include "sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGV4_MAX_PARAMS 256
#define SIGV4_MAX_SEGMENTS 128

/* --- bounded output buffer --- */

struct sb {
    char *p;
    size_t len, cap;
    bool full;
};

static void sb_init(struct sb *b, char *out, size_t cap)
{
    b->p = out;
    b->len = 0;
    b->cap = cap;
    b->full = cap == 0;
    if (cap)
        out[0] = '\0';
}

static void sb_putn(struct sb *b, const char *s, size_t n)
{
    if (b->full || b->len + n + 1 > b->cap) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

static void sb_putc(struct sb *b, char c)
{
    sb_putn(b, &c, 1);
}

/* --- encoding --- */

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static void sb_encode(struct sb *b, const char *in, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            sb_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_putn(b, e, 3);
        }
    }
}

int wm_sigv4_uri_encode(const char *in, size_t inlen, int keep_slash, char *out, size_t outlen)
{
    struct sb b;
    sb_init(&b, out, outlen);
    sb_encode(&b, in, inlen, keep_slash != 0);
    return b.full ? -ENOSPC : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes in[0..n) into a new string (a stray '%' stays literal). */
static char *pct_decode(const char *in, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '%' && i + 2 < n && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
            out[o++] = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* --- canonical URI: dot segments and empty segments removed, each segment encoded --- */

static void canonical_uri(struct sb *b, const char *path)
{
    const char *seg[SIGV4_MAX_SEGMENTS];
    size_t seglen[SIGV4_MAX_SEGMENTS], nseg = 0;
    if (!path || !*path)
        path = "/";
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (nseg)
                nseg--;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (nseg == SIGV4_MAX_SEGMENTS) {
                b->full = true;
                return;
            }
            seg[nseg] = p;
            seglen[nseg++] = n;
        }
        p += n;
    }
    size_t plen = strlen(path);
    bool trailing = plen > 1 && path[plen - 1] == '/';
    for (size_t i = 0; i < nseg; i++) {
        sb_putc(b, '/');
        sb_encode(b, seg[i], seglen[i], false);
    }
    if (nseg == 0 || trailing)
        sb_putc(b, '/');
}

/* --- canonical query: parameters decoded, re-encoded strictly, sorted by name then value --- */

struct param {
    char *enc; /* "name=value", encoded */
    size_t name_len;
};

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->enc, y->enc, n);
    if (c)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    return strcmp(x->enc + x->name_len, y->enc + y->name_len);
}

/* One "k=v" of the raw query into *p.  0 or -ENOMEM. */
static int param_make(const char *s, size_t n, struct param *p)
{
    const char *eq = memchr(s, '=', n);
    size_t kn = eq ? (size_t)(eq - s) : n;
    char *k = pct_decode(s, kn);
    char *v = pct_decode(eq ? eq + 1 : "", eq ? n - kn - 1 : 0);
    size_t cap = 3 * (strlen(k ? k : "") + strlen(v ? v : "")) + 2;
    p->enc = (k && v) ? malloc(cap) : NULL;
    int rc = p->enc ? 0 : -ENOMEM;
    if (rc == 0) {
        struct sb b;
        sb_init(&b, p->enc, cap);
        sb_encode(&b, k, strlen(k), false);
        p->name_len = b.len;
        sb_putc(&b, '=');
        sb_encode(&b, v, strlen(v), false);
    }
    free(k);
    free(v);
    return rc;
}

static int canonical_query(struct sb *b, const char *query)
{
    if (!query || !*query)
        return 0;
    struct param *ps = calloc(SIGV4_MAX_PARAMS, sizeof(*ps));
    if (!ps)
        return -ENOMEM;
    size_t n = 0;
    int rc = 0;
    for (const char *p = query; *p && rc == 0;) {
        const char *e = strchr(p, '&');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > 0) {
            rc = n == SIGV4_MAX_PARAMS ? -EINVAL : param_make(p, len, &ps[n]);
            n += rc == 0;
        }
        p += len + (e != NULL);
    }
    if (rc == 0) {
        qsort(ps, n, sizeof(*ps), param_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_putc(b, '&');
            sb_puts(b, ps[i].enc);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(ps[i].enc);
    free(ps);
    return rc;
}

/* --- canonical headers --- */

static int hdr_cmp(const void *a, const void *b)
{
    const struct wm_sigv4_header *x = *(const struct wm_sigv4_header *const *)a;
    const struct wm_sigv4_header *y = *(const struct wm_sigv4_header *const *)b;
    int c = strcasecmp(x->name, y->name);
    /* stable for equal names: keep the request's order of repeated headers */
    return c ? c : (x < y ? -1 : x > y);
}

static void put_lower(struct sb *b, const char *s)
{
    for (; *s; s++)
        sb_putc(b, (char)tolower((unsigned char)*s));
}

/* value trimmed, runs of whitespace collapsed to one space */
static void put_trimmed(struct sb *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    bool pending_space = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') {
            pending_space = true;
            continue;
        }
        if (pending_space)
            sb_putc(b, ' ');
        pending_space = false;
        sb_putc(b, *v);
    }
}

static int canonical_headers(struct sb *b, struct sb *signed_h, const struct wm_sigv4_request *r)
{
    const struct wm_sigv4_header *sorted[WM_SIGV4_MAX_HEADERS];
    if (r->nheaders == 0 || r->nheaders > WM_SIGV4_MAX_HEADERS)
        return -EINVAL;
    for (size_t i = 0; i < r->nheaders; i++)
        sorted[i] = &r->headers[i];
    qsort(sorted, r->nheaders, sizeof(sorted[0]), hdr_cmp);
    for (size_t i = 0; i < r->nheaders; i++) {
        bool same = i > 0 && strcasecmp(sorted[i]->name, sorted[i - 1]->name) == 0;
        if (same) { /* repeated header: values joined with ',' */
            sb_putc(b, ',');
        } else {
            if (i > 0) {
                sb_putc(b, '\n');
                sb_putc(signed_h, ';');
            }
            put_lower(b, sorted[i]->name);
            put_lower(signed_h, sorted[i]->name);
            sb_putc(b, ':');
        }
        put_trimmed(b, sorted[i]->value ? sorted[i]->value : "");
    }
    sb_putc(b, '\n');
    return 0;
}

/* --- step 1 --- */

int wm_sigv4_canonical_request(const struct wm_sigv4_request *req, char *out, size_t outlen,
                               char *signed_headers, size_t shlen)
{
    char shbuf[1024];
    struct sb b, sh;
    if (!req || !req->method)
        return -EINVAL;
    sb_init(&b, out, outlen);
    sb_init(&sh, shbuf, sizeof(shbuf));
    sb_puts(&b, req->method);
    sb_putc(&b, '\n');
    canonical_uri(&b, req->path);
    sb_putc(&b, '\n');
    int rc = canonical_query(&b, req->query);
    if (rc < 0)
        return rc;
    sb_putc(&b, '\n');
    if ((rc = canonical_headers(&b, &sh, req)) < 0)
        return rc;
    sb_putc(&b, '\n');
    sb_puts(&b, shbuf);
    sb_putc(&b, '\n');
    char hash[WM_SIGV4_HEX_LEN + 1];
    wm_sigv4_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, hash);
    sb_puts(&b, hash);
    if (b.full || sh.full)
        return -ENOSPC;
    if (signed_headers && (size_t)snprintf(signed_headers, shlen, "%s", shbuf) >= shlen)
        return -ENOSPC;
    return 0;
}

/* --- step 2 --- */

static int valid_scope(const struct wm_sigv4_scope *s)
{
    if (!s || !s->amz_date || !s->region || !s->service || strlen(s->amz_date) != WM_SIGV4_DATE_LEN)
        return -EINVAL;
    return 0;
}

int wm_sigv4_string_to_sign(const struct wm_sigv4_scope *scope, const char *canonical_request,
                            char *out, size_t outlen)
{
    if (valid_scope(scope) < 0 || !canonical_request)
        return -EINVAL;
    char hash[WM_SIGV4_HEX_LEN + 1];
    wm_sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);
    int n = snprintf(out, outlen, "%s\n%s\n%.8s/%s/%s/aws4_request\n%s", WM_SIGV4_ALGORITHM,
                     scope->amz_date, scope->amz_date, scope->region, scope->service, hash);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

/* --- step 3 --- */

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &n);
}

int wm_sigv4_signing_key(const char *secret_access_key, const struct wm_sigv4_scope *scope,
                         unsigned char key[32])
{
    if (!secret_access_key || valid_scope(scope) < 0)
        return -EINVAL;
    char k0[256], date[9];
    int n = snprintf(k0, sizeof(k0), "AWS4%s", secret_access_key);
    if (n < 0 || (size_t)n >= sizeof(k0))
        return -EINVAL;
    memcpy(date, scope->amz_date, 8);
    date[8] = '\0';
    unsigned char k1[32], k2[32], k3[32];
    hmac(k0, (size_t)n, date, k1);
    hmac(k1, 32, scope->region, k2);
    hmac(k2, 32, scope->service, k3);
    hmac(k3, 32, "aws4_request", key);
    /* intermediates are as good as the secret for a day: wipe them */
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(k1, 32);
    OPENSSL_cleanse(k2, 32);
    OPENSSL_cleanse(k3, 32);
    return 0;
}

/* --- step 4 --- */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void wm_sigv4_signature(const unsigned char key[32], const char *string_to_sign,
                        char out[WM_SIGV4_HEX_LEN + 1])
{
    unsigned char mac[32];
    hmac(key, 32, string_to_sign, mac);
    to_hex(mac, 32, out);
}

int wm_sigv4_authorization(const struct wm_sigv4_credentials *cred,
                           const struct wm_sigv4_scope *scope, const struct wm_sigv4_request *req,
                           char *out, size_t outlen)
{
    if (!cred || !cred->access_key_id || !cred->secret_access_key || valid_scope(scope) < 0)
        return -EINVAL;
    size_t cap = 16384 + (req->query ? 3 * strlen(req->query) : 0);
    char *creq = malloc(cap), sts[512], signed_h[1024], sig[WM_SIGV4_HEX_LEN + 1];
    if (!creq)
        return -ENOMEM;
    int rc = wm_sigv4_canonical_request(req, creq, cap, signed_h, sizeof(signed_h));
    if (rc == 0)
        rc = wm_sigv4_string_to_sign(scope, creq, sts, sizeof(sts));
    free(creq);
    unsigned char key[32];
    if (rc == 0)
        rc = wm_sigv4_signing_key(cred->secret_access_key, scope, key);
    if (rc < 0)
        return rc;
    wm_sigv4_signature(key, sts, sig);
    OPENSSL_cleanse(key, sizeof(key));
    int n = snprintf(out, outlen,
                     "%s Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
                     WM_SIGV4_ALGORITHM, cred->access_key_id, scope->amz_date, scope->region,
                     scope->service, signed_h, sig);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

/* --- helpers --- */

void wm_sigv4_amz_date(time_t t, char out[WM_SIGV4_DATE_LEN + 1])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, WM_SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

void wm_sigv4_sha256_hex(const void *data, size_t len, char out[WM_SIGV4_HEX_LEN + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    to_hex(md, sizeof(md), out);
}
