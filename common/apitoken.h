/* apitoken — API tokens and roles (table api_tokens, schemas/sql/080).
 *
 * A token is "wmt_" followed by 64 hex digits (32 random bytes).  It is
 * shown once, by wm_apitoken_create; the database keeps only its SHA-256,
 * so nothing that reads the database (or an API response) can recover it.
 * A token checks out while it is neither revoked nor expired; a failed
 * check never says which of "unknown", "revoked" or "expired" it was (the
 * caller answers 401 either way).
 *
 * Roles are ordered: viewer < operator < admin; wm_apitoken_allows() says
 * whether a token's role covers the one an action needs. */
#ifndef WM_APITOKEN_H
#define WM_APITOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_pg;

enum wm_role {
    WM_ROLE_NONE = 0,
    WM_ROLE_VIEWER = 1,   /* reads everything but secrets */
    WM_ROLE_OPERATOR = 2, /* acts on waves and servers */
    WM_ROLE_ADMIN = 3,    /* manages tokens, credentials, settings */
};

#define WM_APITOKEN_LEN 68 /* "wmt_" + 64 hex */
#define WM_APITOKEN_NAME_MAX 64

struct wm_apitoken {
    int64_t id;
    char name[WM_APITOKEN_NAME_MAX + 1];
    enum wm_role role;
};

/* "viewer"/"operator"/"admin" -> role; WM_ROLE_NONE for anything else. */
enum wm_role wm_role_parse(const char *s);
const char *wm_role_name(enum wm_role r);
bool wm_apitoken_allows(enum wm_role have, enum wm_role need);

/* Creates token NAME with ROLE, expiring after ttl_s seconds (0 = never).
 * token (>= WM_APITOKEN_LEN + 1 bytes) gets the secret to hand out once;
 * *id the row id (may be NULL).  -EINVAL bad name/role/ttl, -EEXIST name
 * taken, other -errno from the database; err says which. */
int wm_apitoken_create(struct wm_pg *db, const char *name, const char *role, int64_t ttl_s,
                       const char *created_by, char *token, size_t tokenlen, int64_t *id,
                       char *err, size_t errlen);

/* Checks a presented token (also accepts "Bearer <token>").  0 with *out
 * filled (and last_used_at updated), -EACCES when it is unknown, revoked
 * or expired, other -errno when the database failed. */
int wm_apitoken_check(struct wm_pg *db, const char *presented, struct wm_apitoken *out,
                      char *err, size_t errlen);

/* Revokes token NAME now.  0, -ENOENT (no such token or already revoked). */
int wm_apitoken_revoke(struct wm_pg *db, const char *name, char *err, size_t errlen);

#endif
