/* probes: TCP open/closed, HTTP status/range/redirect/timeout against the
 * local Python peer, commands through the local transport, and a
 * configured list with its JSON summary. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "jsonr.h"
#include "log.h"
#include "../support/orch_httppeer.h"
#include "probe/probe.h"
#include "transport/transport.h"

static struct orch_httppeer peer;

static char *url(const char *path)
{
    static char buf[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "http://127.0.0.1:%d%s", peer.port, path);
    return buf[i];
}

/* A socket bound to 127.0.0.1 on a free port; listening or not. */
static int bound_socket(bool listening, int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (listening)
        assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_probe_tcp_open_port_is_ok(void **state)
{
    (void)state;
    struct probe_result r = {0};
    int port, fd = bound_socket(true, &port);

    probe_tcp("127.0.0.1", port, 2000, &r);
    assert_true(r.ok);
    assert_int_equal(r.kind, PROBE_TCP);
    assert_non_null(strstr(r.detail, "connected to 127.0.0.1:"));
    assert_true(r.elapsed_ms >= 0 && r.elapsed_ms < 10000);
    probe_tcp("localhost", port, 2000, &r); /* names resolve too */
    assert_true(r.ok);
    close(fd);
}

static void test_probe_tcp_closed_port_fails(void **state)
{
    (void)state;
    struct probe_result r = {0};
    int port, fd = bound_socket(false, &port); /* held, but nobody listens */

    probe_tcp("127.0.0.1", port, 2000, &r);
    assert_false(r.ok);
    assert_non_null(strstr(r.detail, "Connection refused"));
    close(fd);
    probe_tcp("127.0.0.1", 0, 2000, &r);
    assert_false(r.ok);
    assert_non_null(strstr(r.detail, "bad target"));
    probe_tcp("no-such-host.invalid", 80, 2000, &r);
    assert_false(r.ok);
    assert_non_null(strstr(r.detail, "cannot resolve"));
}

static void test_probe_http_status_decides(void **state)
{
    (void)state;
    struct probe_result r = {0};
    struct probe_http_opts o = {0};

    probe_http(url("/status/200"), NULL, 3000, &r);
    assert_true(r.ok);
    assert_int_equal(r.kind, PROBE_HTTP);
    assert_non_null(strstr(r.detail, "HTTP 200"));
    probe_http(url("/status/500"), NULL, 3000, &r);
    assert_false(r.ok);
    assert_string_equal(r.detail, "HTTP 500, expected 200-299");
    o.status_min = 500;
    o.status_max = 503;
    probe_http(url("/status/503"), &o, 3000, &r); /* a range that expects failure */
    assert_true(r.ok);
    o = (struct probe_http_opts){.contains = "\"status\": 200"};
    probe_http(url("/status/200"), &o, 3000, &r);
    assert_true(r.ok);
    o.contains = "nope";
    probe_http(url("/status/200"), &o, 3000, &r);
    assert_false(r.ok);
    assert_non_null(strstr(r.detail, "lacks \"nope\""));
}

static void test_probe_http_redirects_only_when_asked(void **state)
{
    (void)state;
    struct probe_result r = {0};
    struct probe_http_opts o = {0};

    probe_http(url("/redirect"), &o, 3000, &r);
    assert_false(r.ok);
    assert_string_equal(r.detail, "HTTP 302, expected 200-299");
    o.follow_redirects = true;
    probe_http(url("/redirect"), &o, 3000, &r);
    assert_true(r.ok);
    assert_non_null(strstr(r.detail, "HTTP 200"));
}

static void test_probe_http_timeout_is_bounded(void **state)
{
    (void)state;
    struct probe_result r = {0};

    probe_http(url("/sleep/30000"), NULL, 300, &r);
    assert_false(r.ok);
    assert_string_equal(r.detail, "no answer within 300 ms");
    /* the 300 ms timeout, not the 30 s answer; room for a loaded machine */
    assert_true(r.elapsed_ms >= 250 && r.elapsed_ms < 15000);
    int port, fd = bound_socket(false, &port);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", port);
    probe_http(u, NULL, 1000, &r);
    assert_false(r.ok);
    assert_non_null(strstr(r.detail, "onnect")); /* curl: "Couldn't connect to server" */
    close(fd);
    probe_http("file:///etc/passwd", NULL, 1000, &r); /* only http(s) */
    assert_false(r.ok);
}

static void test_probe_ssh_runs_through_the_transport(void **state)
{
    (void)state;
    char err[256];
    struct probe_result r = {0};
    struct transport *tp = transport_local_new(err, sizeof(err));

    assert_non_null(tp);
    probe_ssh(tp, "echo active", 0, "active", 3000, &r);
    assert_true(r.ok);
    assert_int_equal(r.kind, PROBE_SSH);
    probe_ssh(tp, "echo inactive >&2; exit 3", 0, NULL, 3000, &r);
    assert_false(r.ok);
    assert_non_null(strstr(r.detail, "exit 3, expected 0"));
    assert_non_null(strstr(r.detail, "inactive"));
    probe_ssh(tp, "exit 3", 3, NULL, 3000, &r);
    assert_true(r.ok);
    probe_ssh(tp, "echo down", 0, "active", 3000, &r);
    assert_false(r.ok);
    probe_ssh(tp, "sleep 5", 0, NULL, 300, &r);
    assert_false(r.ok);
    probe_ssh(NULL, "true", 0, NULL, 300, &r);
    assert_false(r.ok);
    assert_non_null(strstr(r.detail, "no transport"));
    transport_free(tp);
}

static void test_probe_list_runs_all_and_summarises(void **state)
{
    (void)state;
    char cfg[1024], err[256];
    int port, fd = bound_socket(true, &port);
    int cport, cfd = bound_socket(false, &cport);
    struct transport *tp = transport_local_new(err, sizeof(err));

    snprintf(cfg, sizeof(cfg),
             "[{\"type\":\"tcp\",\"port\":%d},"
             " {\"type\":\"tcp\",\"port\":%d,\"name\":\"closed-port\",\"timeout_ms\":1000},"
             " {\"type\":\"http\",\"url\":\"http://{address}:%d/status/200\",\"status\":\"2xx\"},"
             " {\"type\":\"http\",\"url\":\"http://{address}:%d/status/500\",\"status\":[200,399]},"
             " {\"type\":\"ssh\",\"command\":\"echo {address}\",\"contains\":\"127.0.0.1\"}]",
             port, cport, peer.port, peer.port);
    struct probe_list *l = probe_list_parse(cfg, "127.0.0.1", err, sizeof(err));
    assert_non_null(l);
    assert_int_equal(probe_list_count(l), 5);
    struct probe_report rep;
    assert_int_equal(probe_list_run(l, tp, &rep), 0);
    assert_false(rep.ok);
    assert_int_equal(rep.n, 5);
    bool want[] = {true, false, true, false, true};
    for (size_t i = 0; i < 5; i++)
        if (rep.results[i].ok != want[i])
            fail_msg("probe %zu (%s): %s", i, rep.results[i].name, rep.results[i].detail);
    char tcpname[64];
    snprintf(tcpname, sizeof(tcpname), "tcp:127.0.0.1:%d", port);
    assert_string_equal(rep.results[0].name, tcpname);
    assert_string_equal(rep.results[1].name, "closed-port");

    struct wm_jsonr *d = wm_jsonr_parse(rep.json, strlen(rep.json), NULL, NULL, err, sizeof(err));
    assert_non_null(d);
    const struct wm_jsonr_val *root = wm_jsonr_root(d);
    bool ok = true;
    assert_true(wm_jsonr_bool(wm_jsonr_get(root, "ok"), &ok) && !ok);
    assert_int_equal(wm_jsonr_len(wm_jsonr_get(root, "probes")), 5);
    assert_string_equal(wm_jsonr_path_str(root, "probes.1.name", ""), "closed-port");
    assert_string_equal(wm_jsonr_path_str(root, "probes.3.type", ""), "http");
    assert_string_equal(wm_jsonr_path_str(root, "probes.3.detail", ""),
                        "HTTP 500, expected 200-399");
    assert_true(wm_jsonr_path_int(root, "probes.0.elapsed_ms", -1) >= 0);
    wm_jsonr_free(d);
    probe_report_free(&rep);
    probe_list_free(l);

    /* all passing → ok */
    snprintf(cfg, sizeof(cfg), "[{\"type\":\"tcp\",\"port\":%d}]", port);
    l = probe_list_parse(cfg, "127.0.0.1", err, sizeof(err));
    assert_int_equal(probe_list_run(l, NULL, &rep), 0);
    assert_true(rep.ok);
    assert_non_null(strstr(rep.json, "\"ok\":true"));
    probe_report_free(&rep);
    probe_list_free(l);
    transport_free(tp);
    close(fd);
    close(cfd);
}

static void test_probe_list_config_errors_are_named(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"[]", "1..64 probes"},
        {"{\"type\":\"tcp\"}", "JSON array"},
        {"[{\"type\":\"ping\"}]", "probe 0 needs \"type\""},
        {"[{\"type\":\"tcp\",\"port\":22},{\"type\":\"tcp\"}]", "probe 1 needs a \"port\""},
        {"[{\"type\":\"http\"}]", "probe 0 needs \"url\""},
        {"[{\"type\":\"http\",\"url\":\"http://x/\",\"status\":\"abc\"}]", "bad \"status\""},
        {"[{\"type\":\"http\",\"url\":\"http://x/\",\"status\":[300,200]}]", "bad \"status\""},
        {"[{\"type\":\"ssh\"}]", "needs \"command\""},
        {"[1]", "probe 0 is not an object"},
        {"[{\"type\":\"tcp\",\"port\":22},]", "JSON error at byte"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        struct probe_list *l = probe_list_parse(bad[i][0], "10.0.0.5", err, sizeof(err));
        if (l || !strstr(err, bad[i][1]))
            fail_msg("case %zu: want \"%s\", got %s", i, bad[i][1], l ? "a list" : err);
    }
}

static int setup(void **state)
{
    (void)state;
    static FILE *devnull;
    devnull = fopen("/dev/null", "w");
    wm_log_set_stream(devnull);
    return orch_httppeer_start(&peer, NULL);
}

static int teardown(void **state)
{
    (void)state;
    orch_httppeer_stop(&peer);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_tcp_open_port_is_ok),
        cmocka_unit_test(test_probe_tcp_closed_port_fails),
        cmocka_unit_test(test_probe_http_status_decides),
        cmocka_unit_test(test_probe_http_redirects_only_when_asked),
        cmocka_unit_test(test_probe_http_timeout_is_bounded),
        cmocka_unit_test(test_probe_ssh_runs_through_the_transport),
        cmocka_unit_test(test_probe_list_runs_all_and_summarises),
        cmocka_unit_test(test_probe_list_config_errors_are_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
