/* http — a small libcurl client for cloud APIs, CMDBs and probes.
 *
 * One request at a time, everything bounded: total and connect timeouts,
 * response body size (a larger body fails the request instead of growing
 * memory), header count.  No redirects are followed (an API that redirects
 * is misconfigured) and only http/https are allowed.
 *
 * The retry helper implements exponential backoff with "full jitter": the
 * wait before retry n is uniform in [0, min(cap, base * 2^n)], which spreads
 * many throttled clients apart instead of having them retry in lockstep.
 * Which failures are worth retrying is the caller's decision (a classifier
 * callback); wm_http_aws_retryable() is AWS's rule. */
#ifndef WM_HTTP_H
#define WM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_HTTP_MAX_HEADERS 32
#define WM_HTTP_DEFAULT_MAX_BODY (4 * 1024 * 1024)
#define WM_HTTP_MAX_ATTEMPTS 16

struct wm_http_request {
    const char *method;         /* "GET", "POST", … */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* "Name: value" lines (borrowed) */
    size_t nheaders;            /* at most WM_HTTP_MAX_HEADERS */
    const void *body;           /* NULL = none */
    size_t body_len;
    long timeout_ms;         /* whole request; 0 = 30 s */
    long connect_timeout_ms; /* 0 = 5 s */
    size_t max_body;         /* response limit; 0 = WM_HTTP_DEFAULT_MAX_BODY */
};

struct wm_http_response {
    long status; /* HTTP status; 0 when no response arrived */
    char *body;  /* NUL-terminated (owned; wm_http_response_free) */
    size_t body_len;
};

/* Global libcurl setup; call once from main before threads start (also
 * done lazily by the first request, which is fine in single-threaded use). */
int wm_http_global_init(void);

/* Performs req.  0 when a response arrived (any status: the caller reads
 * resp->status); negative errno when none did (-ETIMEDOUT, -ECONNREFUSED,
 * -EFBIG for a body over the limit, -EIO for other transport errors) with
 * the reason in err.  resp is always initialised and must be freed. */
int wm_http_do(const struct wm_http_request *req, struct wm_http_response *resp, char *err,
               size_t errlen);
void wm_http_response_free(struct wm_http_response *resp);

/* --- retries --- */

struct wm_http_backoff {
    int max_attempts; /* total attempts including the first (1..WM_HTTP_MAX_ATTEMPTS) */
    long base_ms;     /* ceiling of the first wait */
    long cap_ms;      /* ceiling never exceeds this */
    /* uniform random in [0, 1); NULL = an internal generator (tests inject one) */
    double (*rand01)(void *arg);
    void *rand_arg;
};

/* The wait before retry number n (0 = the first retry): uniform in
 * [0, ceiling] with ceiling = min(cap_ms, base_ms * 2^n).  *ceiling_ms (may
 * be NULL) gets that ceiling. */
long wm_http_backoff_delay(const struct wm_http_backoff *b, int n, long *ceiling_ms);

/* What happened across attempts, for logs and tests. */
struct wm_http_retry_stats {
    int attempts;
    long delay_ms[WM_HTTP_MAX_ATTEMPTS];   /* wait before attempt i+1 */
    long ceiling_ms[WM_HTTP_MAX_ATTEMPTS]; /* its jitter ceiling */
};

/* Classifier: true if this outcome should be retried.  rc is wm_http_do's
 * result; resp is valid when rc == 0. */
typedef bool (*wm_http_retryable_fn)(int rc, const struct wm_http_response *resp, void *arg);

/* wm_http_do with retries: retries while retryable() says so and attempts
 * remain, sleeping the backoff delay between attempts.  Returns the last
 * attempt's outcome (resp holds its response).  stats may be NULL. */
int wm_http_do_retry(const struct wm_http_request *req, const struct wm_http_backoff *b,
                     wm_http_retryable_fn retryable, void *arg, struct wm_http_response *resp,
                     struct wm_http_retry_stats *stats, char *err, size_t errlen);

/* AWS's rule: HTTP 429, any 5xx, or one of the throttling error codes
 * (Throttling, ThrottlingException, RequestLimitExceeded, RequestThrottled,
 * TooManyRequestsException, PriorRequestNotComplete).  code may be NULL. */
bool wm_http_aws_retryable(long status, const char *code);

#endif
