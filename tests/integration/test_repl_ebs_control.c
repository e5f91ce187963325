/* A worker asks the receiver, over the receiver's mTLS control port, to
 * export a committed generation to EBS (a local moto server): the export
 * runs on the receiver, progress and the result come back over the
 * channel, the chain read back from moto equals the source (moto does not
 * implement ParentSnapshotId, so the test reassembles root + child itself).
 * Only workers may ask; a receiver refuses syncs; bad options are named. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/common_repo.h"
#include "../support/repl_fixture.h"
#include "../support/tls_fixture.h"
#include "control.h"
#include "jsonr.h"
#include "repl_client.h"
#include "sync.h"
#include "tls.h"

#define SRC_SIZE (24u << 20)

static char pki[256], root[300], src[300], state[300], rcv_addr[64], ctl_addr[64], repo[1024];
static char moto_dir[400], moto_url[64], worker_dir[400], agent_dir[400], opts[512];
static volatile sig_atomic_t stop_flag;
static int cfd;
static struct control_opts co;
static struct wm_tls_ctx *agent_tls;

static void *control_thread(void *arg)
{
    (void)arg;
    control_serve(&co, cfd, &stop_flag);
    return NULL;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static const char *py(void)
{
    static char p[512];
    const char *e = getenv("WM_PY");
    snprintf(p, sizeof(p), "%s", e && *e ? e : "");
    if (!p[0])
        snprintf(p, sizeof(p), "%s/.cache/wavemill/venv/bin/python", getenv("HOME"));
    return p;
}

static int sync_source(char *err, size_t errlen)
{
    struct sync_opts so;
    sync_opts_defaults(&so);
    so.disk = src;
    so.volume = "ebs1";
    so.to = rcv_addr;
    so.state_dir = state;
    so.tls = agent_tls;
    struct sync_result r;
    return sync_run(&so, &r, err, errlen);
}

static int setup(void **st)
{
    (void)st;
    char err[512], recv_dir[400];
    signal(SIGPIPE, SIG_IGN);
    fixture_find_repo(repo, sizeof(repo), "tests/peers/moto_server.sh", R_OK);
    if (repl_fixture_pki(pki, sizeof(pki), root, sizeof(root), 1) < 0)
        return -1;
    snprintf(src, sizeof(src), "%s/src.img", pki);
    snprintf(state, sizeof(state), "%s/state", pki);
    snprintf(recv_dir, sizeof(recv_dir), "%s/recv1", pki);
    snprintf(worker_dir, sizeof(worker_dir), "%s/worker1", pki);
    snprintf(agent_dir, sizeof(agent_dir), "%s/agent1", pki);
    snprintf(moto_dir, sizeof(moto_dir), "%s/moto", pki);
    agent_tls = wm_tls_ctx_new(agent_dir, WM_TLS_CLIENT, err, sizeof(err));
    co = (struct control_opts){.server_tls =
                                   wm_tls_ctx_new(recv_dir, WM_TLS_SERVER, err, sizeof(err)),
                               .root = root,
                               .progress_ms = 100};
    cfd = repl_fixture_listen(ctl_addr, sizeof(ctl_addr));
    if (!agent_tls || !co.server_tls || cfd < 0 ||
        repl_fixture_receiver(pki, root, rcv_addr, sizeof(rcv_addr), &stop_flag, err, sizeof(err)) <
            0)
        return -1;
    pthread_t t;
    pthread_create(&t, NULL, control_thread, NULL);
    pthread_detach(t);
    if (repl_fixture_random_file(src, SRC_SIZE, 1) < 0 || sync_source(err, sizeof(err)) < 0) {
        fprintf(stderr, "sync: %s\n", err);
        return -1;
    }
    if (sh("timeout 60 '%s/tests/peers/moto_server.sh' start '%s' >/dev/null", repo, moto_dir)) {
        fprintf(stderr, "moto did not start\n");
        return -1;
    }
    FILE *f = fopen(strcat(strcpy(err, moto_dir), "/moto.port"), "r");
    int port = 0;
    if (!f || fscanf(f, "%d", &port) != 1)
        return -1;
    fclose(f);
    snprintf(moto_url, sizeof(moto_url), "http://127.0.0.1:%d", port);
    snprintf(opts, sizeof(opts),
             "{\"endpoint\":\"%s\",\"ec2_endpoint\":\"%s\",\"inflight\":4,"
             "\"tags\":{\"wave\":\"w1\",\"server\":\"srv1\"}}",
             moto_url, moto_url);
    setenv("AWS_ACCESS_KEY_ID", "AKIDCONTROLTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "control-test-secret", 1);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    sh("'%s/tests/peers/moto_server.sh' stop '%s'", repo, moto_dir);
    tls_fixture_free(pki);
    return 0;
}

static void count_progress(const struct proto_progress *p, void *ud)
{
    int *n = ud;
    assert_true(p->scanned <= p->total);
    (*n)++;
}

static int export_via(const char *tls_dir, enum repl_client_op op, const char *id,
                      const char *options, struct repl_client_result *res, int *nprog)
{
    char err[512];
    struct repl_client *c = repl_client_new(tls_dir, err, sizeof(err));
    assert_non_null(c);
    struct repl_client_req req = {
        .op = op, .id = id, .disk = options, .volume = "ebs1", .to = "ebs"};
    int rc = repl_client_run(c, ctl_addr, &req, nprog ? count_progress : NULL, nprog, 0, res, err,
                             sizeof(err));
    repl_client_free(c);
    if (rc < 0)
        fprintf(stderr, "control connection: %s\n", err);
    return rc;
}

/* The result text's snapshot id and a number field. */
static void result_fields(const char *text, char *snap, size_t snaplen, const char *key, int64_t *v)
{
    char err[160];
    struct wm_jsonr *d = wm_jsonr_parse(text, strlen(text), NULL, NULL, err, sizeof(err));
    if (!d)
        fail_msg("result is not JSON (%s): %s", err, text);
    const char *s = wm_jsonr_str(wm_jsonr_get(wm_jsonr_root(d), "snapshot"));
    assert_non_null(s);
    snprintf(snap, snaplen, "%s", s);
    assert_true(wm_jsonr_int(wm_jsonr_get(wm_jsonr_root(d), key), v));
    wm_jsonr_free(d);
}

static void assert_chain_equals_source(const char *snaps)
{
    assert_int_equal(sh("'%s' '%s/tests/peers/ebs_chain.py' reassemble --endpoint %s --size %u "
                        "--out '%s/back.img' %s >/dev/null && cmp -s '%s' '%s/back.img'",
                        py(), repo, moto_url, SRC_SIZE, pki, snaps, src, pki),
                     0);
}

static void test_worker_exports_through_receiver_control_port(void **st)
{
    (void)st;
    struct repl_client_result res;
    int n = 0;
    assert_int_equal(export_via(worker_dir, REPL_CLIENT_EBS_EXPORT, "exp-1", opts, &res, &n), 0);
    if (res.rc != 0)
        fail_msg("export: %s", res.text);
    assert_int_equal(res.gen, 1);
    char s1[64], cmd[1024];
    int64_t changed;
    result_fields(res.text, s1, sizeof(s1), "changed_blocks", &changed);
    assert_true(changed > 0);
    assert_int_equal(res.prog.total, (uint64_t)changed * 512 * 1024);
    snprintf(cmd, sizeof(cmd), "%s", s1);
    assert_chain_equals_source(cmd);

    /* the same request id again: the finished job's result, nothing new */
    struct repl_client_result again;
    assert_int_equal(export_via(worker_dir, REPL_CLIENT_EBS_EXPORT, "exp-1", opts, &again, NULL),
                     0);
    assert_int_equal(again.rc, 0);
    assert_string_equal(again.text, res.text);

    /* a delta: a child of s1 with only the changed blocks */
    assert_int_equal(sh("dd if=/dev/urandom of='%s' bs=4096 count=3 seek=1000 conv=notrunc "
                        "status=none",
                        src),
                     0);
    char err[512];
    assert_int_equal(sync_source(err, sizeof(err)), 0);
    assert_int_equal(export_via(worker_dir, REPL_CLIENT_EBS_EXPORT, "exp-2", opts, &res, NULL), 0);
    if (res.rc != 0)
        fail_msg("delta export: %s", res.text);
    char s2[64];
    int64_t put;
    result_fields(res.text, s2, sizeof(s2), "blocks_put", &put);
    assert_int_equal(res.gen, 2);
    assert_int_equal(put, 1); /* 3 adjacent 4 KiB blocks inside one 512 KiB block */
    assert_non_null(strstr(res.text, s1));
    snprintf(cmd, sizeof(cmd), "%s %s", s1, s2);
    assert_chain_equals_source(cmd);
}

static void test_only_workers_may_ask_and_receiver_refuses_syncs(void **st)
{
    (void)st;
    struct repl_client_result res;
    /* an agent's certificate */
    assert_int_equal(export_via(agent_dir, REPL_CLIENT_EBS_EXPORT, "exp-a", opts, &res, NULL), 0);
    assert_int_equal(res.rc, -EPERM);
    assert_non_null(strstr(res.text, "certificate role"));
    /* a sync sent to the receiver's control port: the client already
     * refuses a peer that is not an agent */
    assert_int_equal(export_via(worker_dir, REPL_CLIENT_SYNC, "sync-x", "/dev/null", &res, NULL),
                     -EPERM);
}

static void test_bad_options_are_named(void **st)
{
    (void)st;
    struct repl_client_result res;
    assert_int_equal(
        export_via(worker_dir, REPL_CLIENT_EBS_EXPORT, "bad-1", "{\"inflight\":999}", &res, NULL),
        0);
    assert_int_equal(res.rc, -EINVAL);
    assert_non_null(strstr(res.text, "inflight"));
    assert_int_equal(
        export_via(worker_dir, REPL_CLIENT_EBS_EXPORT, "bad-2", "not json", &res, NULL), 0);
    assert_int_equal(res.rc, -EINVAL);
    assert_non_null(strstr(res.text, "JSON"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_exports_through_receiver_control_port),
        cmocka_unit_test(test_only_workers_may_ask_and_receiver_refuses_syncs),
        cmocka_unit_test(test_bad_options_are_named),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
