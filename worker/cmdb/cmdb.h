/* cmdb — the cmdb_update step: one configured REST call that marks a server
 * migrated in the operator's CMDB.
 *
 *   method    POST (default), PUT or PATCH
 *   url       template with {server} {fqdn} {wave} {instance_id} {status},
 *             each replaced URL-encoded (RFC 3986 unreserved characters
 *             stay, everything else is %XX)
 *   body      JSON template with the same placeholders, each replaced
 *             JSON-escaped (the template supplies the quotes:
 *             {"ci":"{server}"}); the result must be valid JSON.  Without a
 *             template the body is
 *             {"server":…,"fqdn":…,"wave":…,"status":"migrated","instance_id":…}
 *   auth      "Authorization: Bearer <secret>", or "<Header>: <secret>" when
 *             a header name is configured; the secret comes in as a
 *             wm_secret (from the credential store) and is never logged nor
 *             put in an error message.
 *
 * A placeholder is "{" lowercase letters/underscores "}"; an unknown one is
 * a configuration error (a typo would otherwise reach the CMDB verbatim).
 *
 * Outcome: 2xx = done (0).  4xx = the CMDB refused: -EIO at once, with the
 * status and an excerpt of the response body (redacted) in err.  5xx, 429,
 * timeouts and connection errors are retried with exponential backoff and
 * full jitter (bounded attempts and delays); still failing → -EAGAIN so the
 * scheduler retries the task later. */
#ifndef WM_CMDB_H
#define WM_CMDB_H

#include <stddef.h>

#include "log.h"

struct wm_config;

#define CMDB_DEFAULT_TIMEOUT_MS 10000
#define CMDB_DEFAULT_ATTEMPTS 4
#define CMDB_MAX_ATTEMPTS 10
#define CMDB_DEFAULT_BACKOFF_BASE_MS 250
#define CMDB_DEFAULT_BACKOFF_CAP_MS 5000
#define CMDB_MAX_URL 2048
#define CMDB_MAX_BODY (64 * 1024)

struct cmdb_config {
    const char *method;        /* NULL → "POST" */
    const char *url;           /* template, http:// or https:// */
    const char *body;          /* template; NULL or "" → the default body */
    const char *auth_header;   /* NULL, "" or "Authorization" → Bearer form */
    int timeout_ms;            /* per attempt; 0 → default */
    int max_attempts;          /* 0 → default; capped at CMDB_MAX_ATTEMPTS */
    long backoff_base_ms;      /* 0 → default */
    long backoff_cap_ms;       /* 0 → default */
};

/* Values for the placeholders; NULL is "". */
struct cmdb_vars {
    const char *server, *fqdn, *wave, *instance_id;
    const char *status; /* NULL → "migrated" */
};

struct cmdb_result {
    long status;  /* last HTTP status, 0 if none arrived */
    int attempts; /* requests made */
};

/* Makes the call (secret may be NULL: no auth header).  0 on 2xx, -EIO on
 * a refusal (4xx), -EAGAIN when retries ran out on 5xx/timeouts, -EINVAL
 * for a bad configuration; a one-line reason in err.  res may be NULL. */
int cmdb_update(const struct cmdb_config *c, const struct cmdb_vars *v, const wm_secret *secret,
                struct cmdb_result *res, char *err, size_t errlen);

/* Expands a template (exposed for tests and `--dry-run` style checks):
 * url_mode 1 = URL-encode values, 0 = JSON-escape.  malloc'd text, or NULL
 * with the reason in err. */
char *cmdb_expand(const char *tmpl, const struct cmdb_vars *v, int url_mode, char *err,
                  size_t errlen);

/* --- configuration keys: cmdb.url, cmdb.method, cmdb.body, cmdb.auth_header,
 * cmdb.secret (credential name), cmdb.timeout, cmdb.attempts --- */
int cmdb_declare(struct wm_config *cfg, char *err, size_t errlen);
/* Fills c from cfg (strings borrowed from cfg); *secret_name gets the
 * credential's name (NULL when none).  -ENOENT when cmdb.url is unset. */
int cmdb_config_from(const struct wm_config *cfg, struct cmdb_config *c, const char **secret_name);

#endif
