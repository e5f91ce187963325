/* The resident agent driven over its mTLS control connection by the
 * worker's client library: sync and verify with progress callbacks, a
 * dropped control connection that leaves the sync running (re-attached by
 * request id, committed once), and a certificate of the wrong role refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/repl_cutproxy.h"
#include "../support/repl_fixture.h"
#include "../support/tls_fixture.h"
#include "blockmap.h"
#include "control.h"
#include "receiver.h"
#include "repl_client.h"
#include "tls.h"

#define SRC_SIZE (16u << 20)

static char pki[256], root[300], src[300], state[300], rcv_addr[64], agent_addr[64], dir[400];
static volatile sig_atomic_t stop_flag;
static int afd;
static struct control_opts co;

static void *agent_thread(void *arg)
{
    (void)arg;
    control_serve(&co, afd, &stop_flag);
    return NULL;
}

static int setup(void **st)
{
    (void)st;
    char err[512];
    signal(SIGPIPE, SIG_IGN);
    if (repl_fixture_pki(pki, sizeof(pki), root, sizeof(root), 1) < 0)
        return -1;
    snprintf(src, sizeof(src), "%s/src.img", pki);
    snprintf(state, sizeof(state), "%s/state", pki);
    snprintf(dir, sizeof(dir), "%s/agent1", pki);
    co = (struct control_opts){.server_tls = wm_tls_ctx_new(dir, WM_TLS_SERVER, err, sizeof(err)),
                               .client_tls = wm_tls_ctx_new(dir, WM_TLS_CLIENT, err, sizeof(err)),
                               .state_dir = state,
                               .progress_ms = 200};
    afd = repl_fixture_listen(agent_addr, sizeof(agent_addr));
    if (!co.server_tls || !co.client_tls || afd < 0)
        return -1;
    if (repl_fixture_receiver(pki, root, rcv_addr, sizeof(rcv_addr), &stop_flag, err, sizeof(err)) <
        0)
        return -1;
    pthread_t t;
    pthread_create(&t, NULL, agent_thread, NULL);
    pthread_detach(t);
    int ok = repl_fixture_random_file(src, SRC_SIZE, 0) == 0;
    snprintf(dir, sizeof(dir), "%s/worker1", pki);
    return ok ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    tls_fixture_free(pki);
    return 0;
}

static void count_progress(const struct proto_progress *p, void *ud)
{
    int *n = ud;
    assert_int_equal(p->total, SRC_SIZE);
    assert_true(p->scanned <= p->total);
    (*n)++;
}

struct cut_on_progress {
    struct repl_cutproxy *proxy;
    int n;
};

/* Drops the control connection once the job has reported progress twice. */
static void cut_after_two(const struct proto_progress *p, void *ud)
{
    struct cut_on_progress *c = ud;
    (void)p;
    if (++c->n == 2)
        repl_cutproxy_cut_now(c->proxy);
}

static struct repl_client_req request(enum repl_client_op op, const char *volume, const char *id)
{
    return (struct repl_client_req){
        .op = op, .id = id, .disk = src, .volume = volume, .to = rcv_addr};
}

static int same_files(const char *a, const char *b)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

static void test_sync_and_verify_through_control_connection(void **st)
{
    (void)st;
    char err[512], img[400];
    struct repl_client *c = repl_client_new(dir, err, sizeof(err));
    assert_non_null(c);
    struct repl_client_req req = request(REPL_CLIENT_SYNC, "ctl1", "t1");
    req.bwlimit = 16u << 20; /* ~1 s: several progress frames */
    struct repl_client_result res;
    int n = 0;
    assert_int_equal(
        repl_client_run(c, agent_addr, &req, count_progress, &n, 0, &res, err, sizeof(err)), 0);
    if (res.rc != 0)
        fail_msg("sync: %s", res.text);
    assert_int_equal(res.gen, 1);
    assert_int_equal(res.prog.sent, SRC_SIZE);
    assert_true(n >= 2);
    snprintf(img, sizeof(img), "%s/ctl1.img", root);
    assert_true(same_files(src, img));
    req = request(REPL_CLIENT_VERIFY, "ctl1", "t2");
    req.sha256 = 1;
    assert_int_equal(repl_client_run(c, agent_addr, &req, NULL, NULL, 0, &res, err, sizeof(err)),
                     0);
    if (res.rc != 0)
        fail_msg("verify: %s", res.text);
    assert_int_equal(res.gen, 1);
    repl_client_free(c);
}

static void test_dropped_control_connection_keeps_the_sync(void **st)
{
    (void)st;
    char err[512], px[64], img[400];
    struct repl_client *c = repl_client_new(dir, err, sizeof(err));
    /* the control connection dies two progress frames in */
    struct repl_cutproxy *p = repl_cutproxy_start(agent_addr, 1u << 30, 0, px, sizeof(px));
    struct repl_client_req req = request(REPL_CLIENT_SYNC, "ctl2", "t3");
    req.bwlimit = 5u << 20; /* ~3 s */
    struct repl_client_result res;
    struct cut_on_progress cut = {.proxy = p};
    int rc = repl_client_run(c, px, &req, cut_after_two, &cut, 0, &res, err, sizeof(err));
    repl_cutproxy_stop(p);
    assert_true(rc < 0); /* the client saw the drop ... */
    assert_true(cut.n >= 2);
    /* ... the job did not: the same request re-attaches and gets the result */
    assert_int_equal(repl_client_run(c, agent_addr, &req, NULL, NULL, 0, &res, err, sizeof(err)),
                     0);
    if (res.rc != 0)
        fail_msg("re-attached sync: %s", res.text);
    assert_int_equal(res.gen, 1); /* one sync, committed once */
    snprintf(img, sizeof(img), "%s/ctl2.img", root);
    assert_true(same_files(src, img));
    /* asking again with the same id returns the finished job's result */
    assert_int_equal(repl_client_run(c, agent_addr, &req, NULL, NULL, 0, &res, err, sizeof(err)),
                     0);
    assert_int_equal(res.rc, 0);
    assert_int_equal(res.gen, 1);
    repl_client_free(c);
}

static void test_wrong_role_cannot_drive_the_agent(void **st)
{
    (void)st;
    char err[512], adir[400];
    snprintf(adir, sizeof(adir), "%s/recv1", pki);
    struct repl_client *c = repl_client_new(adir, err, sizeof(err));
    struct repl_client_req req = request(REPL_CLIENT_SYNC, "ctl3", "t4");
    struct repl_client_result res;
    assert_int_equal(repl_client_run(c, agent_addr, &req, NULL, NULL, 0, &res, err, sizeof(err)),
                     0);
    assert_true(res.rc < 0);
    assert_non_null(strstr(res.text, "role"));
    char p[400];
    snprintf(p, sizeof(p), "%s/ctl3.state", root);
    assert_int_not_equal(access(p, F_OK), 0);
    repl_client_free(c);
}

struct stop_after {
    int n;
};

static void count_frames(const struct proto_progress *p, void *ud)
{
    (void)p;
    ((struct stop_after *)ud)->n++;
}

static bool stop_after_two(void *ud)
{
    return ((struct stop_after *)ud)->n >= 2;
}

/* What the worker's replication driver does when its task must stop: the
 * call ends with -ECANCELED once should_stop says so, the job goes on on
 * the agent, and the same request re-attaches and gets its result. */
static void test_should_stop_ends_the_call_not_the_job(void **st)
{
    (void)st;
    char err[512], img[400];
    struct repl_client *c = repl_client_new(dir, err, sizeof(err));
    assert_non_null(c);
    struct repl_client_req req = request(REPL_CLIENT_SYNC, "ctl9", "t9");
    req.bwlimit = 5u << 20; /* ~3 s: progress frames before the end */
    struct repl_client_result res;
    struct stop_after s = {0};
    const struct repl_client_cb cb = {.progress = count_frames, .should_stop = stop_after_two,
                                      .ud = &s};
    assert_int_equal(repl_client_call(c, agent_addr, &req, &cb, 0, &res, err, sizeof(err)),
                     -ECANCELED);
    assert_int_equal(s.n, 2);
    assert_int_equal(repl_client_call(c, agent_addr, &req, NULL, 0, &res, err, sizeof(err)), 0);
    if (res.rc != 0)
        fail_msg("re-attached sync: %s", res.text);
    assert_int_equal(res.gen, 1);
    snprintf(img, sizeof(img), "%s/ctl9.img", root);
    assert_true(same_files(src, img));
    repl_client_free(c);
}

/* The size the driver reserves per disk for the agent's digest map is the
 * size of the map the replicator writes. */
static void test_map_bytes_is_the_size_of_the_agents_map(void **st)
{
    (void)st;
    char err[256], path[400];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/sizing.map", pki);
    struct blockmap *m = blockmap_open(path, 1, 4096, SRC_SIZE + 1, err, sizeof(err));
    assert_non_null(m);
    blockmap_free(m);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, repl_client_map_bytes(SRC_SIZE + 1, 0));
    assert_int_equal(repl_client_map_bytes(0, 0), 0);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_and_verify_through_control_connection),
        cmocka_unit_test(test_dropped_control_connection_keeps_the_sync),
        cmocka_unit_test(test_wrong_role_cannot_drive_the_agent),
        cmocka_unit_test(test_should_stop_ends_the_call_not_the_job),
        cmocka_unit_test(test_map_bytes_is_the_size_of_the_agents_map),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
