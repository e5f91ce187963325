/* apitoken — API tokens stored hashed (see apitoken.h). */
#include "apitoken.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

static const char *const role_names[] = {NULL, "viewer", "operator", "admin"};

enum wm_role wm_role_parse(const char *s)
{
    for (int r = WM_ROLE_VIEWER; s && r <= WM_ROLE_ADMIN; r++)
        if (strcmp(s, role_names[r]) == 0)
            return (enum wm_role)r;
    return WM_ROLE_NONE;
}

const char *wm_role_name(enum wm_role r)
{
    return r >= WM_ROLE_VIEWER && r <= WM_ROLE_ADMIN ? role_names[r] : "none";
}

bool wm_apitoken_allows(enum wm_role have, enum wm_role need)
{
    return have != WM_ROLE_NONE && have >= need;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* "\\x<hex of sha256(token)>": the bytea literal PostgreSQL takes as text */
static int token_digest(const char *token, char out[2 + 64 + 1])
{
    uint8_t md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -EIO;
    out[0] = '\\', out[1] = 'x';
    hex(md, 32, out + 2);
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > WM_APITOKEN_NAME_MAX)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-") == n;
}

int wm_apitoken_create(struct wm_pg *db, const char *name, const char *role, int64_t ttl_s,
                       const char *created_by, char *token, size_t tokenlen, int64_t *id,
                       char *err, size_t errlen)
{
    if (!name_ok(name)) {
        snprintf(err, errlen, "invalid token name '%.80s': 1-64 of A-Z a-z 0-9 . _ @ -",
                 name ? name : "");
        return -EINVAL;
    }
    if (wm_role_parse(role) == WM_ROLE_NONE || ttl_s < 0 || tokenlen < WM_APITOKEN_LEN + 1) {
        snprintf(err, errlen, "invalid %s", ttl_s < 0 ? "expiry" : "role (viewer, operator, admin)");
        return -EINVAL;
    }
    uint8_t rnd[32];
    char digest[67], ttl[32];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        snprintf(err, errlen, "no random bytes");
        return -EIO;
    }
    memcpy(token, "wmt_", 4);
    hex(rnd, sizeof(rnd), token + 4);
    if (token_digest(token, digest) < 0)
        return -EIO;
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_s);
    const char *p[] = {name, role, digest, created_by ? created_by : "?", ttl};
    PGresult *res = wm_pg_query(db,
                                "INSERT INTO api_tokens (name, role, secret_sha256, created_by,"
                                " expires_at) VALUES ($1, $2, $3::bytea, $4, CASE WHEN $5::bigint"
                                " > 0 THEN now() + make_interval(secs => $5::bigint) END)"
                                " RETURNING id",
                                5, p, err, errlen);
    if (!res) {
        explicit_bzero(token, tokenlen);
        if (strcmp(wm_pg_sqlstate(db), "23505") == 0) {
            snprintf(err, errlen, "a token named '%s' exists already", name);
            return -EEXIST;
        }
        return -EIO;
    }
    if (id)
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static const char *strip_bearer(const char *s)
{
    if (s && strncasecmp(s, "Bearer ", 7) == 0)
        s += 7;
    while (s && *s == ' ')
        s++;
    return s;
}

int wm_apitoken_check(struct wm_pg *db, const char *presented, struct wm_apitoken *out,
                      char *err, size_t errlen)
{
    const char *t = strip_bearer(presented);
    char digest[67];
    if (!t || strlen(t) != WM_APITOKEN_LEN || strncmp(t, "wmt_", 4) != 0 ||
        token_digest(t, digest) < 0) {
        snprintf(err, errlen, "invalid or missing token");
        return -EACCES;
    }
    const char *p[] = {digest};
    PGresult *res = wm_pg_query(db,
                                "UPDATE api_tokens SET last_used_at = now()"
                                " WHERE secret_sha256 = $1::bytea AND revoked_at IS NULL"
                                " AND (expires_at IS NULL OR expires_at > now())"
                                " RETURNING id, name, role",
                                1, p, err, errlen);
    if (!res)
        return -EIO;
    int rc = PQntuples(res) == 1 ? 0 : -EACCES;
    if (rc == 0) {
        out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(res, 0, 1));
        out->role = wm_role_parse(PQgetvalue(res, 0, 2));
    } else {
        snprintf(err, errlen, "invalid, revoked or expired token");
    }
    PQclear(res);
    return rc;
}

int wm_apitoken_revoke(struct wm_pg *db, const char *name, char *err, size_t errlen)
{
    long rows = 0;
    const char *p[] = {name};
    if (wm_pg_exec(db, "UPDATE api_tokens SET revoked_at = now() WHERE name = $1"
                       " AND revoked_at IS NULL",
                   1, p, &rows, err, errlen) < 0)
        return -EIO;
    if (rows == 0) {
        snprintf(err, errlen, "no active token named '%.80s'", name);
        return -ENOENT;
    }
    return 0;
}
