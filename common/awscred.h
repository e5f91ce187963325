/* awscred — the AWS credentials a wavemill process really has: an access
 * key with an optional session token (X-Amz-Security-Token), from the
 * environment, a credential-store value, or — when no key is configured —
 * the instance role through IMDSv2.
 *
 * Sources, in the order wm_awscred_resolve tries them:
 *   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   2. IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds),
 *      GET /latest/meta-data/iam/security-credentials/ (the role name), GET
 *      …/security-credentials/ROLE (JSON AccessKeyId, SecretAccessKey,
 *      Token, Expiration), every GET carrying X-aws-ec2-metadata-token.
 *      The endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT when set (as the
 *      AWS SDKs read it), else http://169.254.169.254.
 * A credential-store value is "ACCESS_KEY_ID:SECRET_ACCESS_KEY" with an
 * optional ":SESSION_TOKEN" (wm_awscred_parse).
 *
 * Secrets (secret key, token) are registered with the log redactor; no
 * error message ever quotes them.  Errors: 0 or -errno with err:
 *   -ENOENT  the source has no credentials (env unset, no role)
 *   -EINVAL  malformed value or IMDS answer
 *   transport errnos of wm_http_do for IMDS. */
#ifndef WM_AWSCRED_H
#define WM_AWSCRED_H

#include <stddef.h>
#include <time.h>

#define WM_AWSCRED_AKID_MAX 128
#define WM_AWSCRED_SECRET_MAX 256
#define WM_AWSCRED_TOKEN_MAX 4096

struct wm_awscred {
    char akid[WM_AWSCRED_AKID_MAX];
    char secret[WM_AWSCRED_SECRET_MAX];
    char token[WM_AWSCRED_TOKEN_MAX]; /* "" = none */
    time_t expires;                   /* 0 = does not expire (static keys) */
    char source[16];                  /* "env", "store", "imds", "config" */
};

/* From the environment; -ENOENT when AWS_ACCESS_KEY_ID is unset. */
int wm_awscred_from_env(struct wm_awscred *c, char *err, size_t errlen);

/* From explicit values (token may be NULL or ""). */
int wm_awscred_set(struct wm_awscred *c, const char *akid, const char *secret, const char *token,
                   char *err, size_t errlen);

/* From a credential-store value "AKID:SECRET[:TOKEN]" (whitespace around
 * the parts is ignored). */
int wm_awscred_parse(const char *value, size_t len, struct wm_awscred *c, char *err, size_t errlen);

/* From the instance role through IMDSv2 at endpoint (NULL = the default
 * above); timeout_ms bounds each of the three requests (0 = 2 s). */
int wm_awscred_imds(const char *endpoint, long timeout_ms, struct wm_awscred *c, char *err,
                    size_t errlen);

/* The environment, else IMDSv2. */
int wm_awscred_resolve(struct wm_awscred *c, char *err, size_t errlen);

/* Seconds left before the credentials expire (a large number for static
 * keys); callers refresh below a margin. */
long wm_awscred_ttl(const struct wm_awscred *c, time_t now);

/* Wipes the secret parts. */
void wm_awscred_clear(struct wm_awscred *c);

#endif
