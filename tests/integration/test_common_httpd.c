/* httpd over libmicrohttpd on loopback, checked with libcurl: routes and
 * their 404/405, bodies and the 413 bound, streamed responses, /metrics,
 * /healthz and /readyz, HTTPS with a factory-PKI certificate, and plain
 * HTTP refused off loopback. */
#include <curl/curl.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpd.h"
#include "metrics.h"
#include "../support/tls_fixture.h"

struct got {
    long status;
    char body[65536];
    size_t len;
};

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
    struct got *g = arg;
    size_t k = sz * n;
    if (g->len + k >= sizeof(g->body))
        return 0;
    memcpy(g->body + g->len, p, k);
    g->len += k;
    g->body[g->len] = '\0';
    return k;
}

/* One request with libcurl; cafile set for https. */
static int fetch(const char *method, const char *url, const char *body, size_t body_len,
                 const char *cafile, struct got *g)
{
    memset(g, 0, sizeof(*g));
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    if (cafile)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->status);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -EIO;
}

static int h_echo(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg)
{
    (void)arg;
    const char *q = wm_httpd_query(req, "q");
    return wm_httpd_reply(resp, 201, "application/json", "{\"path\":\"%s\",\"len\":%zu,\"q\":\"%s\"}",
                          req->path, req->body_len, q ? q : "");
}

static int h_fail(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg)
{
    (void)req, (void)resp, (void)arg;
    return -EIO;
}

struct counter_stream {
    int n;
    int *freed;
};

static ssize_t count_stream(void *arg, char *buf, size_t max)
{
    struct counter_stream *s = arg;
    if (s->n == 3)
        return -1;
    return snprintf(buf, max, "data: %d\n\n", s->n++);
}

static void count_free(void *arg)
{
    struct counter_stream *s = arg;
    (*s->freed)++;
    free(s);
}

static int freed_streams;

static int h_stream(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg)
{
    (void)req, (void)arg;
    struct counter_stream *s = calloc(1, sizeof(*s));
    s->freed = &freed_streams;
    resp->content_type = "text/event-stream";
    resp->stream = count_stream;
    resp->stream_arg = s;
    resp->stream_free = count_free;
    return 0;
}

static int ready_flag;
static int check_db(void *arg, char *err, size_t errlen)
{
    (void)arg;
    if (ready_flag)
        return 0;
    snprintf(err, errlen, "connection refused");
    return -ECONNREFUSED;
}

static struct wm_httpd *start(struct wm_httpd_opts *o, struct wm_metrics *m, char *base, size_t n)
{
    char err[256];
    struct wm_httpd *h = wm_httpd_new(o, err, sizeof(err));
    assert_non_null(h);
    wm_httpd_route(h, "POST", "/echo", h_echo, NULL);
    wm_httpd_route(h, NULL, "/api/", h_echo, NULL);
    wm_httpd_route(h, "GET", "/fail", h_fail, NULL);
    wm_httpd_route(h, "GET", "/stream", h_stream, NULL);
    wm_httpd_ops(h, m);
    wm_httpd_ready_check(h, "postgresql", check_db, NULL);
    assert_int_equal(wm_httpd_start(h, err, sizeof(err)), 0);
    snprintf(base, n, "%s://127.0.0.1:%d", wm_httpd_tls(h) ? "https" : "http", wm_httpd_port(h));
    return h;
}

static void test_httpd_routes_bodies_and_errors(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    struct wm_httpd_opts o = {.listen = "127.0.0.1:0", .plain_loopback_only = true,
                              .max_body = 1000, .metrics = m};
    char base[128], url[256];
    struct wm_httpd *h = start(&o, m, base, sizeof(base));
    struct got g;

    snprintf(url, sizeof(url), "%s/echo", base);
    assert_int_equal(fetch("POST", url, "hello", 5, NULL, &g), 0);
    assert_int_equal(g.status, 201);
    assert_string_equal(g.body, "{\"path\":\"/echo\",\"len\":5,\"q\":\"\"}");

    snprintf(url, sizeof(url), "%s/api/v1/waves?q=a%%20b", base);
    assert_int_equal(fetch("DELETE", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 201);
    assert_string_equal(g.body, "{\"path\":\"/api/v1/waves\",\"len\":0,\"q\":\"a b\"}");

    static char big[2000];
    memset(big, 'x', sizeof(big));
    snprintf(url, sizeof(url), "%s/echo", base);
    assert_int_equal(fetch("POST", url, big, sizeof(big), NULL, &g), 0);
    assert_int_equal(g.status, 413);

    assert_int_equal(fetch("GET", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 405);
    snprintf(url, sizeof(url), "%s/nothing", base);
    assert_int_equal(fetch("GET", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 404);
    snprintf(url, sizeof(url), "%s/fail", base);
    assert_int_equal(fetch("GET", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 500);

    snprintf(url, sizeof(url), "%s/stream", base);
    assert_int_equal(fetch("GET", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    assert_int_equal(freed_streams, 1);

    snprintf(url, sizeof(url), "%s/metrics", base);
    assert_int_equal(fetch("GET", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 200);
    assert_non_null(strstr(g.body, "wm_http_requests_total{route=\"/echo\",code=\"201\"} 1\n"));
    assert_non_null(strstr(g.body, "wm_http_requests_total{route=\"/echo\",code=\"413\"} 1\n"));
    assert_non_null(strstr(g.body, "# TYPE wm_http_connections_open gauge\n"));
    wm_httpd_free(h);
    wm_metrics_free(m);
}

static void test_httpd_readyz_names_the_failing_check(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    struct wm_httpd_opts o = {.listen = "127.0.0.1:0", .plain_loopback_only = true};
    char base[128], url[256];
    struct wm_httpd *h = start(&o, m, base, sizeof(base));
    struct got g;
    snprintf(url, sizeof(url), "%s/healthz", base);
    assert_int_equal(fetch("GET", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 200);
    ready_flag = 0;
    snprintf(url, sizeof(url), "%s/readyz", base);
    assert_int_equal(fetch("GET", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 503);
    assert_string_equal(g.body, "postgresql: connection refused\n");
    ready_flag = 1;
    assert_int_equal(fetch("GET", url, NULL, 0, NULL, &g), 0);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "postgresql: ok\nready\n");
    wm_httpd_free(h);
    wm_metrics_free(m);
}

static void test_httpd_refuses_plain_http_off_loopback(void **state)
{
    (void)state;
    char err[256] = "";
    struct wm_httpd_opts o = {.listen = "0.0.0.0:0", .plain_loopback_only = true};
    assert_null(wm_httpd_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "refusing plain HTTP"));
    /* a metrics-only listener may serve plain HTTP anywhere */
    o.plain_loopback_only = false;
    struct wm_httpd *h = wm_httpd_new(&o, err, sizeof(err));
    assert_non_null(h);
    wm_httpd_free(h);
}

static void test_httpd_serves_https_with_a_factory_certificate(void **state)
{
    (void)state;
    char root[512], cert[700], key[700], ca[700], err[256];
    assert_int_equal(tls_fixture_new(root, sizeof(root)), 0);
    assert_int_equal(tls_fixture_issue(root, "api1", "receiver", 0, 0), 0);
    snprintf(cert, sizeof(cert), "%s/api1/cert.pem", root);
    snprintf(key, sizeof(key), "%s/api1/key.pem", root);
    snprintf(ca, sizeof(ca), "%s/ca.crt", root);
    struct wm_metrics *m = wm_metrics_new();
    struct wm_httpd_opts o = {.listen = "0.0.0.0:0", .plain_loopback_only = true,
                              .cert_file = cert, .key_file = key};
    char base[128], url[256];
    struct wm_httpd *h = start(&o, m, base, sizeof(base));
    struct got g;
    snprintf(url, sizeof(url), "%s/healthz", base);
    assert_int_equal(fetch("GET", url, NULL, 0, ca, &g), 0);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "ok\n");
    /* plain HTTP to the HTTPS port gets no page */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", wm_httpd_port(h));
    fetch("GET", url, NULL, 0, NULL, &g);
    assert_int_not_equal(g.status, 200);
    wm_httpd_free(h);
    wm_metrics_free(m);

    struct wm_httpd_opts bad = {.listen = "127.0.0.1:0", .cert_file = cert};
    assert_null(wm_httpd_new(&bad, err, sizeof(err)));
    assert_non_null(strstr(err, "both a certificate and a key"));
    tls_fixture_free(root);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpd_routes_bodies_and_errors),
        cmocka_unit_test(test_httpd_readyz_names_the_failing_check),
        cmocka_unit_test(test_httpd_refuses_plain_http_off_loopback),
        cmocka_unit_test(test_httpd_serves_https_with_a_factory_certificate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
