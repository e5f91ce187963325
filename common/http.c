/* http — bounded libcurl requests and backoff with full jitter; see http.h. */
#include "http.h"
#include "clock.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_init_rc;

static void http_init_once(void)
{
    http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int wm_http_global_init(void)
{
    pthread_once(&http_once, http_init_once);
    return http_init_rc == CURLE_OK ? 0 : -EIO;
}

/* --- response accumulation with a hard limit --- */

struct sink {
    char *buf;
    size_t len, cap, max;
    bool too_big;
};

static size_t sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    if (s->len + n > s->max) {
        s->too_big = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static int curl_errno(CURLcode c, const struct sink *s)
{
    if (s->too_big)
        return -EFBIG;
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    default:
        return -EIO;
    }
}

static struct curl_slist *make_headers(const struct wm_http_request *req)
{
    /* curl adds "Expect: 100-continue" to larger POSTs: a wasted round trip */
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; h && i < req->nheaders; i++) {
        struct curl_slist *n = curl_slist_append(h, req->headers[i]);
        if (!n) {
            curl_slist_free_all(h);
            return NULL;
        }
        h = n;
    }
    return h;
}

static void setup_curl(CURL *c, const struct wm_http_request *req, struct curl_slist *h,
                       struct sink *s, char *cerr)
{
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
}

static bool url_allowed(const char *url)
{
    return url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
}

int wm_http_do(const struct wm_http_request *req, struct wm_http_response *resp, char *err,
               size_t errlen)
{
    memset(resp, 0, sizeof(*resp));
    if (!req->method || !url_allowed(req->url) || req->nheaders > WM_HTTP_MAX_HEADERS) {
        snprintf(err, errlen, "bad HTTP request (method, http(s) URL, at most %d headers)",
                 WM_HTTP_MAX_HEADERS);
        return -EINVAL;
    }
    if (wm_http_global_init() < 0) {
        snprintf(err, errlen, "libcurl initialisation failed");
        return -EIO;
    }
    CURL *c = curl_easy_init();
    struct curl_slist *h = c ? make_headers(req) : NULL;
    if (!c || !h) {
        curl_easy_cleanup(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    struct sink s = {.max = req->max_body ? req->max_body : WM_HTTP_DEFAULT_MAX_BODY};
    char cerr[CURL_ERROR_SIZE] = "";
    setup_curl(c, req, h, &s, cerr);
    CURLcode cc = curl_easy_perform(c);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = curl_errno(cc, &s);
        if (rc == -EFBIG)
            snprintf(err, errlen, "%s %s: response larger than %zu bytes", req->method, req->url,
                     s.max);
        else
            snprintf(err, errlen, "%s %s: %s", req->method, req->url,
                     cerr[0] ? cerr : curl_easy_strerror(cc));
        free(s.buf);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = s.buf ? s.buf : calloc(1, 1);
        resp->body_len = s.len;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

void wm_http_response_free(struct wm_http_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

/* --- backoff --- */

static double default_rand01(void *arg)
{
    (void)arg;
    static __thread unsigned int seed;
    if (seed == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (unsigned int)(ts.tv_nsec ^ (long)pthread_self()) | 1u;
    }
    return (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
}

long wm_http_backoff_delay(const struct wm_http_backoff *b, int n, long *ceiling_ms)
{
    long ceiling = b->base_ms > 0 ? b->base_ms : 1;
    for (int i = 0; i < n && ceiling < b->cap_ms; i++)
        ceiling *= 2;
    if (b->cap_ms > 0 && ceiling > b->cap_ms)
        ceiling = b->cap_ms;
    if (ceiling_ms)
        *ceiling_ms = ceiling;
    double r = b->rand01 ? b->rand01(b->rand_arg) : default_rand01(NULL);
    if (r < 0)
        r = 0;
    if (r >= 1)
        r = 0.999999;
    return (long)(r * (double)(ceiling + 1));
}

int wm_http_do_retry(const struct wm_http_request *req, const struct wm_http_backoff *b,
                     wm_http_retryable_fn retryable, void *arg, struct wm_http_response *resp,
                     struct wm_http_retry_stats *stats, char *err, size_t errlen)
{
    int max = b->max_attempts < 1 ? 1 : b->max_attempts;
    if (max > WM_HTTP_MAX_ATTEMPTS)
        max = WM_HTTP_MAX_ATTEMPTS;
    if (stats)
        memset(stats, 0, sizeof(*stats));
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        rc = wm_http_do(req, resp, err, errlen);
        if (stats)
            stats->attempts = attempt + 1;
        if (attempt + 1 >= max || !retryable || !retryable(rc, rc == 0 ? resp : NULL, arg))
            return rc;
        wm_http_response_free(resp);
        long ceiling;
        long d = wm_http_backoff_delay(b, attempt, &ceiling);
        if (stats) {
            stats->delay_ms[attempt] = d;
            stats->ceiling_ms[attempt] = ceiling;
        }
        wm_sleep_ms(d);
    }
}

bool wm_http_aws_retryable(long status, const char *code)
{
    static const char *const throttles[] = {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "PriorRequestNotComplete",
        "RequestThrottledException",
    };
    if (status == 429 || (status >= 500 && status <= 599))
        return true;
    for (size_t i = 0; code && i < sizeof(throttles) / sizeof(throttles[0]); i++)
        if (strcmp(code, throttles[i]) == 0)
            return true;
    return false;
}
