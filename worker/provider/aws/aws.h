/* aws — the signed-request core of the aws provider: one client per AWS
 * service (ec2, route53) at a configurable endpoint (AWS, or a local moto
 * server such as http://127.0.0.1:PORT), SigV4-signed over libcurl, with
 * throttling and 5xx answers retried (exponential backoff, full jitter) and
 * every other AWS error returned at once with AWS's code and message.
 *
 * Errors: 0, or negative errno with "Code: Message" from AWS (or the
 * transport's reason) in err:
 *   -ENOENT   AWS said *.NotFound / NoSuch*
 *   -EAGAIN   still throttled (or 5xx) after the last attempt
 *   -EEXIST   AWS said *.Duplicate / *AlreadyExists
 *   -EIO      any other AWS error; transport errors keep their errno. */
#ifndef WM_AWS_H
#define WM_AWS_H

#include <stddef.h>

#include "http.h"
#include "log.h"

#define AWS_ERR_MAX 1024

struct aws_config {
    const char *endpoint; /* "https://ec2.eu-west-1.amazonaws.com", "http://127.0.0.1:5000" */
    const char *region;   /* "eu-west-1" */
    const char *access_key_id;
    const char *secret_access_key;  /* registered with the log redactor by aws_client_new */
    long timeout_ms;                /* per attempt; 0 = 30 s */
    struct wm_http_backoff backoff; /* max_attempts 0 = 6 attempts, base 200 ms, cap 10 s */
};

struct aws_client;

/* Copies what it needs from cfg.  service: "ec2", "route53". */
struct aws_client *aws_client_new(const struct aws_config *cfg, const char *service, char *err,
                                  size_t errlen);
void aws_client_free(struct aws_client *c);
/* A session token (temporary credentials) sent and signed as
 * X-Amz-Security-Token on every request; NULL/"" = none.  0 or -ENOMEM. */
int aws_client_set_token(struct aws_client *c, const char *token);

/* Sends one signed request: path ("/" or "/2013-04-01/…"), query (no '?',
 * may be NULL), body with its content type (NULL = none).  On 2xx returns 0
 * and resp holds the answer (caller frees with wm_http_response_free). */
int aws_client_call(struct aws_client *c, const char *method, const char *path, const char *query,
                    const char *content_type, const char *body, size_t body_len,
                    struct wm_http_response *resp, char *err, size_t errlen);

/* Attempts and waits of the last call (for logs and tests). */
const struct wm_http_retry_stats *aws_client_last_stats(const struct aws_client *c);

/* Credentials from a credential-store value: "ACCESS_KEY_ID:SECRET_KEY", or
 * the two separated by whitespace/newlines.  The secret part is registered
 * with the log redactor.  0 or -EINVAL (the message never quotes the value). */
int aws_credentials_parse(const wm_secret *cred, char *akid, size_t akidlen, char *secret,
                          size_t secretlen, char *err, size_t errlen);

/* --- configuration (config keys aws.*) --- */

struct wm_config;

/* Declares aws.endpoint, aws.region, aws.credential (name of a credential
 * in the store, "ACCESS_KEY_ID:SECRET" inside), aws.access_key_id and
 * aws.secret_access_key (for setups without a store; the secret is a
 * WM_CFG_SECRET), aws.timeout, aws.attempts, aws.backoff_base, aws.backoff_cap. */
int aws_declare(struct wm_config *cfg, char *err, size_t errlen);

/* Fills out for service ("ec2", "route53") from cfg (strings borrowed from
 * cfg): route53 uses aws.route53_endpoint when set and is signed for
 * us-east-1 (Route 53 is global).  *credential_name (may be NULL) gets
 * aws.credential or NULL.  -ENOENT when no endpoint is configured. */
int aws_config_from(const struct wm_config *cfg, const char *service, struct aws_config *out,
                    const char **credential_name);

/* A client for service: credentials from cred (a credential-store value:
 * "ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]", or the first two on
 * lines of their own) when it is non-NULL, else cfg's own
 * access_key_id/secret_access_key. */
struct aws_client *aws_client_with(const struct aws_config *cfg, const wm_secret *cred,
                                   const char *service, char *err, size_t errlen);

/* --- form bodies for the query APIs (EC2): "Action=…&Version=…&k=v" --- */

struct aws_form;
struct aws_form *aws_form_new(const char *action, const char *version);
void aws_form_free(struct aws_form *f);
/* Adds key=value, both URI-encoded; keyfmt is printf-style ("GroupId.%d"). */
void aws_form_add(struct aws_form *f, const char *value, const char *keyfmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The body text, or NULL if adding failed (out of memory / over 256 KiB). */
const char *aws_form_body(const struct aws_form *f, size_t *len);

#endif
