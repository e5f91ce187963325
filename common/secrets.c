/* secrets — AES-256-GCM credential store in PostgreSQL; see secrets.h. */
#include "secrets.h"

#include "config.h"
#include "pg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NONCE_LEN 12
#define TAG_LEN 16

struct wm_secrets {
    struct wm_pg *db;
    bool has_key;
    unsigned char key[WM_SECRETS_KEY_LEN];
    char key_id[WM_SECRETS_KEY_ID_LEN + 1];
};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rc,
                                                      const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* --- config --- */

static const struct wm_config_key secrets_keys[] = {
    {"secrets.master_key", WM_CFG_STRING, NULL, 0, 0, false,
     "file holding the 32-byte master key of the credential store (mode 0600)"},
};

int wm_secrets_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, secrets_keys, sizeof(secrets_keys) / sizeof(secrets_keys[0]), err,
                             errlen);
}

/* --- master key --- */

static int read_key_fd(int fd, const char *path, unsigned char key[WM_SECRETS_KEY_LEN], char *err,
                       size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return fail(err, errlen, -errno, "master key %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(err, errlen, -EINVAL, "master key %s is not a regular file", path);
    /* the key opens every credential: refuse one that others can read */
    if (st.st_mode & 077)
        return fail(err, errlen, -EPERM,
                    "master key %s has mode %04o: it must not be readable by group or others "
                    "(chmod 600 %s)",
                    path, (unsigned)(st.st_mode & 07777), path);
    if (st.st_size != WM_SECRETS_KEY_LEN)
        return fail(err, errlen, -EINVAL, "master key %s must be exactly %d bytes (it has %lld)",
                    path, WM_SECRETS_KEY_LEN, (long long)st.st_size);
    ssize_t n = read(fd, key, WM_SECRETS_KEY_LEN);
    if (n != WM_SECRETS_KEY_LEN)
        return fail(err, errlen, -EIO, "master key %s: short read", path);
    return 0;
}

int wm_secrets_load_key(const char *path, unsigned char key[WM_SECRETS_KEY_LEN], char *err,
                        size_t errlen)
{
    if (!path || !*path)
        return fail(err, errlen, -EINVAL, "no master key file given");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail(err, errlen, -errno, "master key %s: %s", path, strerror(errno));
    int rc = read_key_fd(fd, path, key, err, errlen);
    close(fd);
    if (rc < 0)
        OPENSSL_cleanse(key, WM_SECRETS_KEY_LEN);
    return rc;
}

void wm_secrets_key_id_of(const unsigned char key[WM_SECRETS_KEY_LEN],
                          char out[WM_SECRETS_KEY_ID_LEN + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(key, WM_SECRETS_KEY_LEN, md);
    for (int i = 0; i < WM_SECRETS_KEY_ID_LEN / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* --- store --- */

struct wm_secrets *wm_secrets_open(struct wm_pg *db, const char *key_file, char *err, size_t errlen)
{
    struct wm_secrets *s = calloc(1, sizeof(*s));
    if (!s) {
        fail(err, errlen, -ENOMEM, "out of memory");
        return NULL;
    }
    s->db = db;
    if (key_file) {
        if (wm_secrets_load_key(key_file, s->key, err, errlen) < 0) {
            free(s);
            return NULL;
        }
        s->has_key = true;
        wm_secrets_key_id_of(s->key, s->key_id);
    }
    return s;
}

void wm_secrets_set_db(struct wm_secrets *s, struct wm_pg *db)
{
    s->db = db;
}

void wm_secrets_close(struct wm_secrets *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s->key, sizeof(s->key));
    free(s);
}

const char *wm_secrets_key_id(const struct wm_secrets *s)
{
    return s->key_id;
}

int wm_secrets_valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > WM_SECRETS_MAX_NAME || !isalnum((unsigned char)name[0]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && !strchr("._@/+-", c))
            return 0;
    }
    return 1;
}

static int check_name(const char *name, char *err, size_t errlen)
{
    if (wm_secrets_valid_name(name))
        return 0;
    return fail(err, errlen, -EINVAL,
                "bad secret name (1-%d characters of A-Z a-z 0-9 . _ @ / + -, starting with a "
                "letter or digit)",
                WM_SECRETS_MAX_NAME);
}

static int need_key(const struct wm_secrets *s, char *err, size_t errlen)
{
    return s->has_key ? 0 : fail(err, errlen, -EINVAL, "no master key given");
}

/* --- AES-256-GCM --- */

/* out gets len + TAG_LEN bytes. */
static int seal(const unsigned char *key, const unsigned char nonce[NONCE_LEN], const char *aad,
                const unsigned char *in, size_t len, unsigned char *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = c != NULL;
    ok = ok && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
    ok = ok && EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) == 1;
    ok = ok && EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1;
    ok = ok && EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1;
    ok = ok && EVP_EncryptFinal_ex(c, out + n, &n) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + len) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -EIO;
}

/* in is ciphertext || tag (len >= TAG_LEN); out gets len - TAG_LEN bytes.
 * -EBADMSG when the tag does not verify. */
static int open_sealed(const unsigned char *key, const unsigned char nonce[NONCE_LEN],
                       const char *aad, const unsigned char *in, size_t len, unsigned char *out)
{
    if (len < TAG_LEN)
        return -EBADMSG;
    size_t clen = len - TAG_LEN;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok = c != NULL;
    ok = ok && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1;
    ok = ok && EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) == 1;
    ok = ok && EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1;
    ok = ok && EVP_DecryptUpdate(c, out, &n, in, (int)clen) == 1;
    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(in + clen)) == 1;
    int fin = ok ? EVP_DecryptFinal_ex(c, out + n, &n) : 0;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        return -EIO;
    if (fin != 1) {
        OPENSSL_cleanse(out, clen);
        return -EBADMSG;
    }
    return 0;
}

/* --- bytea as hex text ("\x…") for parameters and results --- */

static char *to_bytea(const unsigned char *p, size_t n)
{
    char *out = malloc(2 * n + 3);
    if (!out)
        return NULL;
    memcpy(out, "\\x", 2);
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", p[i]);
    out[2 * n + 2] = '\0';
    return out;
}

static int hexnib(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decodes hex text (from encode(x, 'hex')) into a new buffer of *n bytes. */
static unsigned char *from_hex(const char *hex, size_t *n)
{
    size_t len = strlen(hex);
    if (len % 2)
        return NULL;
    unsigned char *out = malloc(len / 2 + 1);
    for (size_t i = 0; out && i < len / 2; i++) {
        int hi = hexnib(hex[2 * i]), lo = hexnib(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    *n = len / 2;
    return out;
}

/* --- one row --- */

struct sealed {
    char key_id[WM_SECRETS_KEY_ID_LEN + 1];
    unsigned char *nonce, *ct;
    size_t nonce_len, ct_len;
};

static void sealed_free(struct sealed *r)
{
    free(r->nonce);
    free(r->ct);
    r->nonce = r->ct = NULL;
}

/* Fills r from row i of a (name, key_id, nonce hex, ciphertext hex) result. */
static int sealed_from_row(const PGresult *res, int i, struct sealed *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->key_id, sizeof(r->key_id), "%s", PQgetvalue(res, i, 1));
    r->nonce = from_hex(PQgetvalue(res, i, 2), &r->nonce_len);
    r->ct = from_hex(PQgetvalue(res, i, 3), &r->ct_len);
    if (!r->nonce || !r->ct) {
        sealed_free(r);
        return -EBADMSG;
    }
    return 0;
}

/* Opens r (a row of name) with key.  *out: malloc'd value of *len bytes + NUL. */
static int sealed_open(const struct sealed *r, const char *name, const unsigned char *key,
                       const char *key_id, unsigned char **out, size_t *len, char *err,
                       size_t errlen)
{
    if (strcmp(r->key_id, key_id) != 0)
        return fail(err, errlen, -EKEYREJECTED,
                    "secret %s was sealed with master key %s, not with the key given (%s)", name,
                    r->key_id, key_id);
    if (r->nonce_len != NONCE_LEN || r->ct_len < TAG_LEN ||
        r->ct_len > WM_SECRETS_MAX_VALUE + TAG_LEN)
        return fail(err, errlen, -EBADMSG, "secret %s: stored nonce or ciphertext is malformed",
                    name);
    *out = malloc(r->ct_len - TAG_LEN + 1);
    if (!*out)
        return fail(err, errlen, -ENOMEM, "out of memory");
    int rc = open_sealed(key, r->nonce, name, r->ct, r->ct_len, *out);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        return fail(err, errlen, rc,
                    rc == -EBADMSG ? "secret %s refused: its ciphertext failed authentication "
                                     "(tampered with, or moved from another name)"
                                   : "secret %s: decryption error",
                    name);
    }
    *len = r->ct_len - TAG_LEN;
    (*out)[*len] = '\0';
    return 0;
}

/* Seals value for name under key and writes the row (insert or replace). */
static int store_row(struct wm_pg *db, const unsigned char *key, const char *key_id,
                     const char *name, const void *value, size_t len, char *err, size_t errlen)
{
    unsigned char nonce[NONCE_LEN];
    if (RAND_bytes(nonce, NONCE_LEN) != 1)
        return fail(err, errlen, -EIO, "no random bytes for a nonce");
    unsigned char *ct = malloc(len + TAG_LEN);
    if (!ct)
        return fail(err, errlen, -ENOMEM, "out of memory");
    int rc = seal(key, nonce, name, value, len, ct);
    char *hn = rc == 0 ? to_bytea(nonce, NONCE_LEN) : NULL;
    char *hc = rc == 0 ? to_bytea(ct, len + TAG_LEN) : NULL;
    free(ct);
    if (rc < 0 || !hn || !hc) {
        free(hn);
        free(hc);
        return fail(err, errlen, rc < 0 ? rc : -ENOMEM, "cannot seal secret %s", name);
    }
    const char *p[] = {name, key_id, hn, hc};
    char dberr[512];
    rc = wm_pg_exec(db,
                    "INSERT INTO credentials (name, key_id, nonce, ciphertext)"
                    " VALUES ($1, $2, $3::bytea, $4::bytea)"
                    " ON CONFLICT (name) DO UPDATE SET key_id = EXCLUDED.key_id,"
                    " nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, updated_at = now()",
                    4, p, NULL, dberr, sizeof(dberr));
    free(hn);
    free(hc);
    return rc < 0 ? fail(err, errlen, -EIO, "storing secret %s: %s", name, dberr) : 0;
}

#define SELECT_SEALED                                                                              \
    "SELECT name, key_id, encode(nonce, 'hex'), encode(ciphertext, 'hex') FROM credentials"

/* --- operations --- */

int wm_secrets_set(struct wm_secrets *s, const char *name, const void *value, size_t len, char *err,
                   size_t errlen)
{
    int rc = check_name(name, err, errlen);
    if (rc == 0)
        rc = need_key(s, err, errlen);
    if (rc < 0)
        return rc;
    if (len == 0 || len > WM_SECRETS_MAX_VALUE)
        return fail(err, errlen, -EINVAL, "secret %s: value must be 1 to %d bytes (it has %zu)",
                    name, WM_SECRETS_MAX_VALUE, len);
    return store_row(s->db, s->key, s->key_id, name, value, len, err, errlen);
}

int wm_secrets_get(struct wm_secrets *s, const char *name, wm_secret **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    int rc = check_name(name, err, errlen);
    if (rc == 0)
        rc = need_key(s, err, errlen);
    if (rc < 0)
        return rc;
    const char *p[] = {name};
    char dberr[512];
    PGresult *res =
        wm_pg_query(s->db, SELECT_SEALED " WHERE name = $1", 1, p, dberr, sizeof(dberr));
    if (!res)
        return fail(err, errlen, -EIO, "reading secret %s: %s", name, dberr);
    struct sealed r;
    if (PQntuples(res) == 0)
        rc = fail(err, errlen, -ENOENT, "no secret named %s", name);
    else if (sealed_from_row(res, 0, &r) < 0)
        rc = fail(err, errlen, -EBADMSG, "secret %s: stored value is malformed", name);
    PQclear(res);
    if (rc < 0)
        return rc;
    unsigned char *plain = NULL;
    size_t len = 0;
    rc = sealed_open(&r, name, s->key, s->key_id, &plain, &len, err, errlen);
    sealed_free(&r);
    if (rc < 0)
        return rc;
    *out = wm_secret_new(plain, len);
    OPENSSL_cleanse(plain, len);
    free(plain);
    return *out ? 0 : fail(err, errlen, -ENOMEM, "out of memory");
}

int wm_secrets_list(struct wm_secrets *s, struct wm_secrets_entry **out, size_t *n, char *err,
                    size_t errlen)
{
    *out = NULL;
    *n = 0;
    char dberr[512];
    PGresult *res = wm_pg_query(s->db,
                                "SELECT name, key_id, to_char(updated_at AT TIME ZONE 'UTC',"
                                " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM credentials ORDER BY name",
                                0, NULL, dberr, sizeof(dberr));
    if (!res)
        return fail(err, errlen, -EIO, "listing secrets: %s", dberr);
    int rows = PQntuples(res);
    *out = calloc((size_t)rows + 1, sizeof(**out));
    if (!*out) {
        PQclear(res);
        return fail(err, errlen, -ENOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        snprintf((*out)[i].name, sizeof((*out)[i].name), "%s", PQgetvalue(res, i, 0));
        snprintf((*out)[i].key_id, sizeof((*out)[i].key_id), "%s", PQgetvalue(res, i, 1));
        snprintf((*out)[i].updated_at, sizeof((*out)[i].updated_at), "%s", PQgetvalue(res, i, 2));
    }
    *n = (size_t)rows;
    PQclear(res);
    return 0;
}

void wm_secrets_list_free(struct wm_secrets_entry *list)
{
    free(list);
}

int wm_secrets_rm(struct wm_secrets *s, const char *name, char *err, size_t errlen)
{
    int rc = check_name(name, err, errlen);
    if (rc < 0)
        return rc;
    const char *p[] = {name};
    long rows = 0;
    char dberr[512];
    if (wm_pg_exec(s->db, "DELETE FROM credentials WHERE name = $1", 1, p, &rows, dberr,
                   sizeof(dberr)) < 0)
        return fail(err, errlen, -EIO, "removing secret %s: %s", name, dberr);
    return rows == 0 ? fail(err, errlen, -ENOENT, "no secret named %s", name) : 0;
}

/* --- rotation --- */

struct rotate_ctx {
    struct wm_secrets *s;
    const unsigned char *new_key;
    const char *new_key_id;
    int count;
};

/* Re-seals one row (already decoded) under the new key. */
static int rotate_row(struct rotate_ctx *rc, const char *name, const struct sealed *r, char *err,
                      size_t errlen)
{
    unsigned char *plain = NULL;
    size_t len = 0;
    int e = sealed_open(r, name, rc->s->key, rc->s->key_id, &plain, &len, err, errlen);
    if (e < 0)
        return e;
    e = store_row(rc->s->db, rc->new_key, rc->new_key_id, name, plain, len, err, errlen);
    OPENSSL_cleanse(plain, len);
    free(plain);
    return e;
}

static int rotate_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct rotate_ctx *rc = arg;
    rc->count = 0;
    char dberr[512];
    PGresult *res =
        wm_pg_query(db, SELECT_SEALED " ORDER BY name FOR UPDATE", 0, NULL, dberr, sizeof(dberr));
    if (!res)
        return fail(err, errlen, -EIO, "reading secrets: %s", dberr);
    int e = 0;
    for (int i = 0; i < PQntuples(res) && e == 0; i++) {
        struct sealed r;
        const char *name = PQgetvalue(res, i, 0);
        e = sealed_from_row(res, i, &r);
        if (e < 0) {
            fail(err, errlen, e, "secret %s: stored value is malformed", name);
            break;
        }
        e = rotate_row(rc, name, &r, err, errlen);
        sealed_free(&r);
        rc->count += e == 0;
    }
    PQclear(res);
    return e;
}

int wm_secrets_rotate(struct wm_secrets *s, const char *new_key_file, int *count, char *err,
                      size_t errlen)
{
    int e = need_key(s, err, errlen);
    if (e < 0)
        return e;
    unsigned char nk[WM_SECRETS_KEY_LEN];
    char nid[WM_SECRETS_KEY_ID_LEN + 1];
    if ((e = wm_secrets_load_key(new_key_file, nk, err, errlen)) < 0)
        return e;
    wm_secrets_key_id_of(nk, nid);
    if (strcmp(nid, s->key_id) == 0) {
        OPENSSL_cleanse(nk, sizeof(nk));
        return fail(err, errlen, -EINVAL, "the new master key is the current one (%s)", nid);
    }
    struct rotate_ctx rc = {s, nk, nid, 0};
    e = wm_pg_tx(s->db, rotate_tx, &rc, err, errlen);
    if (e == 0) {
        memcpy(s->key, nk, sizeof(nk));
        memcpy(s->key_id, nid, sizeof(nid));
        if (count)
            *count = rc.count;
    }
    OPENSSL_cleanse(nk, sizeof(nk));
    return e < 0 ? e : (e > 0 ? -EIO : 0);
}
