/* aws provider client against a local moto server that the test starts
 * itself (tests/peers/moto_server.sh), plus a fault-injecting proxy
 * (tests/peers/moto_fault_proxy.py) in front of it for throttling:
 * security group + ingress, volume + snapshot + image, idempotent launch
 * with a client token and tags, wait until running, group swap,
 * termination, Route 53 zone + UPSERT twice, retries with growing backoff,
 * non-retryable errors at once with AWS's message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/orch_fixture.h"
#include "../support/orch_moto.h"
#include "config.h"
#include "log.h"
#include "provider/aws/aws.h"
#include "provider/aws/aws_ec2.h"
#include "provider/aws/aws_r53.h"
#include "provider/aws/aws_xml.h"

struct env {
    char repo[PATH_MAX];
    char dir[64];
    struct orch_moto moto;
};

static struct env E;
static char uniq[32]; /* per run, so names never collide with an earlier run */

static int group_setup(void **state)
{
    (void)state;
    fixture_find_repo(E.repo, sizeof(E.repo), "tests/peers/moto_server.sh", R_OK);
    snprintf(E.dir, sizeof(E.dir), "/tmp/wm_aws.XXXXXX");
    assert_non_null(mkdtemp(E.dir));
    snprintf(uniq, sizeof(uniq), "%d-%ld", (int)getpid(), (long)time(NULL));
    return orch_moto_start(&E.moto, E.repo, E.dir);
}

static int group_teardown(void **state)
{
    (void)state;
    if (orch_moto_stop(&E.moto, E.repo, E.dir) != 0)
        fprintf(stderr, "cleanup of %s failed\n", E.dir);
    return 0;
}

/* --- helpers --- */

static double rand_max(void *arg)
{
    (void)arg;
    return 0.999999;
}

static struct aws_client *client(const char *url, const char *service, int attempts,
                                 double (*rnd)(void *))
{
    struct aws_config cfg = {url,
                             "us-east-1",
                             "AKIDWAVEMILLTEST",
                             "wm-test-secret-key/EXAMPLE",
                             10000,
                             {attempts, 50, 2000, rnd, NULL}};
    char err[256];
    struct aws_client *c = aws_client_new(&cfg, service, err, sizeof(err));
    if (!c)
        fail_msg("aws_client_new: %s", err);
    return c;
}

static void ok_or_fail(int rc, const char *what, const char *err)
{
    if (rc < 0)
        fail_msg("%s: rc %d: %s", what, rc, err);
}

/* Resets the proxy: the next `fail` requests get status/code. */
static void proxy_reset(int fail, int status, const char *code)
{
    char url[256], err[256];
    snprintf(url, sizeof(url), "%s/__wm_fault/reset?fail=%d&status=%d&code=%s", E.moto.proxy_url,
             fail, status, code);
    struct wm_http_request req = {"GET", url, NULL, 0, NULL, 0, 5000, 2000, 0};
    struct wm_http_response r;
    ok_or_fail(wm_http_do(&req, &r, err, sizeof(err)), "proxy reset", err);
    assert_int_equal(r.status, 200);
    wm_http_response_free(&r);
}

/* Arrival times (ms) of the requests the proxy saw since its reset. */
static int proxy_times(double *t, int max)
{
    FILE *f = fopen(E.moto.proxy_log, "r");
    int n = 0;
    char kind[16];
    while (f && n < max && fscanf(f, "%lf %15s", &t[n], kind) == 2)
        n++;
    if (f)
        fclose(f);
    return n;
}

/* --- EC2 --- */

static void test_security_group_and_ingress_idempotent(void **state)
{
    (void)state;
    struct aws_client *c = client(E.moto.moto_url, "ec2", 3, NULL);
    char name[64], sg[AWS_EC2_ID_LEN], sg2[AWS_EC2_ID_LEN], err[AWS_ERR_MAX];
    snprintf(name, sizeof(name), "wm-test-iso-%s", uniq);
    ok_or_fail(
        aws_ec2_create_security_group(c, name, "isolated test group", NULL, sg, err, sizeof(err)),
        "create sg", err);
    assert_memory_equal(sg, "sg-", 3);
    /* a retried create finds the group the first one made */
    ok_or_fail(
        aws_ec2_create_security_group(c, name, "isolated test group", NULL, sg2, err, sizeof(err)),
        "create sg again", err);
    assert_string_equal(sg, sg2);
    ok_or_fail(aws_ec2_authorize_ingress(c, sg, "tcp", 22, 22, "10.0.0.0/8", err, sizeof(err)),
               "ingress", err);
    ok_or_fail(aws_ec2_authorize_ingress(c, sg, "tcp", 22, 22, "10.0.0.0/8", err, sizeof(err)),
               "ingress again", err);
    /* the rule is there, once */
    char body[512];
    snprintf(body, sizeof(body), "Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=%s",
             sg);
    struct wm_http_response r;
    ok_or_fail(aws_client_call(c, "POST", "/", NULL, "application/x-www-form-urlencoded", body,
                               strlen(body), &r, err, sizeof(err)),
               "describe sg", err);
    struct aws_xml perms, item;
    assert_true(aws_xml_find(aws_xml_span(r.body, r.body_len), "ipPermissions", &perms));
    const char *cur = perms.p;
    int rules = 0;
    char port[16], cidr[32];
    while (aws_xml_next(perms, &cur, "item", &item)) {
        rules++;
        assert_int_equal(aws_xml_text(item, "fromPort", port, sizeof(port)), 0);
        assert_string_equal(port, "22");
        assert_int_equal(aws_xml_text(item, "cidrIp", cidr, sizeof(cidr)), 0);
        assert_string_equal(cidr, "10.0.0.0/8");
    }
    assert_int_equal(rules, 1);
    wm_http_response_free(&r);
    aws_client_free(c);
}

/* volume -> snapshot -> image, as for a replicated disk */
static void make_image(struct aws_client *c, const char *name, char *image)
{
    char vol[AWS_EC2_ID_LEN], snap[AWS_EC2_ID_LEN], err[AWS_ERR_MAX];
    ok_or_fail(aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)), "volume", err);
    assert_memory_equal(vol, "vol-", 4);
    ok_or_fail(aws_ec2_create_snapshot(c, vol, "replicated disk", snap, err, sizeof(err)),
               "snapshot", err);
    assert_memory_equal(snap, "snap-", 5);
    ok_or_fail(aws_ec2_register_image(c, name, snap, NULL, image, err, sizeof(err)), "image", err);
    assert_memory_equal(image, "ami-", 4);
}

static void test_volume_snapshot_image(void **state)
{
    (void)state;
    struct aws_client *c = client(E.moto.moto_url, "ec2", 3, NULL);
    char name[64], image[AWS_EC2_ID_LEN], again[AWS_EC2_ID_LEN], err[AWS_ERR_MAX];
    snprintf(name, sizeof(name), "wm-img-%s", uniq);
    make_image(c, name, image);
    /* registering the same name again (a retried step) returns the image already there */
    char vol[AWS_EC2_ID_LEN], snap[AWS_EC2_ID_LEN];
    ok_or_fail(aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)), "volume", err);
    ok_or_fail(aws_ec2_create_snapshot(c, vol, NULL, snap, err, sizeof(err)), "snapshot", err);
    int rc = aws_ec2_register_image(c, name, snap, NULL, again, err, sizeof(err));
    ok_or_fail(rc, "image again", err);
    assert_string_equal(image, again);
    aws_client_free(c);
}

static void test_launch_is_idempotent_tagged_waits_swaps_terminates(void **state)
{
    (void)state;
    struct aws_client *c = client(E.moto.moto_url, "ec2", 3, NULL);
    char err[AWS_ERR_MAX], name[64], image[AWS_EC2_ID_LEN], test_sg[AWS_EC2_ID_LEN],
        live_sg[AWS_EC2_ID_LEN], token[64];
    snprintf(name, sizeof(name), "wm-launch-img-%s", uniq);
    make_image(c, name, image);
    snprintf(name, sizeof(name), "wm-test-sg-%s", uniq);
    ok_or_fail(aws_ec2_create_security_group(c, name, "test", NULL, test_sg, err, sizeof(err)),
               "sg", err);
    snprintf(name, sizeof(name), "wm-live-sg-%s", uniq);
    ok_or_fail(aws_ec2_create_security_group(c, name, "live", NULL, live_sg, err, sizeof(err)),
               "sg", err);
    snprintf(token, sizeof(token), "wm-%s-srv1-test", uniq);
    const char *groups[] = {test_sg};
    struct aws_ec2_launch l = {image, "t3.micro", NULL, groups, 1, token, "wave-7", "srv1", "test"};
    char id1[AWS_EC2_ID_LEN], id2[AWS_EC2_ID_LEN];
    int reused = -1;
    ok_or_fail(aws_ec2_run_instances(c, &l, id1, &reused, err, sizeof(err)), "launch", err);
    assert_int_equal(reused, 0);
    /* the retried launch (same client token) finds the first instance */
    ok_or_fail(aws_ec2_run_instances(c, &l, id2, &reused, err, sizeof(err)), "relaunch", err);
    assert_int_equal(reused, 1);
    assert_string_equal(id1, id2);
    struct aws_ec2_instance found[4];
    int count = 0;
    ok_or_fail(aws_ec2_find_by_token(c, token, found, 4, &count, err, sizeof(err)), "find", err);
    assert_int_equal(count, 1);

    struct aws_ec2_instance inst;
    ok_or_fail(aws_ec2_wait_running(c, id1, 20000, 200, &inst, err, sizeof(err)), "wait", err);
    assert_string_equal(inst.state, "running");
    assert_string_equal(aws_ec2_tag(&inst, "wave"), "wave-7");
    assert_string_equal(aws_ec2_tag(&inst, "server"), "srv1");
    assert_string_equal(aws_ec2_tag(&inst, "purpose"), "test");
    assert_string_equal(aws_ec2_tag(&inst, AWS_EC2_TOKEN_TAG), token);
    assert_int_equal(inst.ngroups, 1);
    assert_string_equal(inst.group_ids[0], test_sg);

    /* cutover: the isolated group is swapped for the live one */
    const char *live[] = {live_sg};
    ok_or_fail(aws_ec2_modify_groups(c, id1, live, 1, err, sizeof(err)), "modify", err);
    ok_or_fail(aws_ec2_describe_instance(c, id1, &inst, err, sizeof(err)), "describe", err);
    assert_int_equal(inst.ngroups, 1);
    assert_string_equal(inst.group_ids[0], live_sg);

    ok_or_fail(aws_ec2_terminate_instance(c, id1, err, sizeof(err)), "terminate", err);
    ok_or_fail(aws_ec2_describe_instance(c, id1, &inst, err, sizeof(err)), "describe", err);
    assert_true(strcmp(inst.state, "terminated") == 0 || strcmp(inst.state, "shutting-down") == 0);
    ok_or_fail(aws_ec2_find_by_token(c, token, found, 4, &count, err, sizeof(err)), "find", err);
    assert_int_equal(count, 0);
    /* waiting on a terminated instance ends at once */
    assert_int_equal(aws_ec2_wait_running(c, id1, 5000, 100, &inst, err, sizeof(err)), -EIO);
    aws_client_free(c);
}

/* --- Route 53 --- */

static void test_route53_upsert_twice_leaves_one_record_with_latest_value(void **state)
{
    (void)state;
    struct aws_client *c = client(E.moto.moto_url, "route53", 3, NULL);
    char zone[AWS_R53_ID_LEN], err[AWS_ERR_MAX], zname[96], rname[128];
    snprintf(zname, sizeof(zname), "w%s.example.test.", uniq);
    ok_or_fail(aws_r53_create_hosted_zone(c, zname, uniq, zone, err, sizeof(err)), "zone", err);
    snprintf(rname, sizeof(rname), "app.%s", zname);
    ok_or_fail(aws_r53_upsert(c, zone, rname, "A", 60, "10.0.0.1", err, sizeof(err)), "upsert 1",
               err);
    ok_or_fail(aws_r53_upsert(c, zone, rname, "A", 60, "10.0.0.2", err, sizeof(err)), "upsert 2",
               err);
    struct aws_r53_record recs[16];
    size_t n = 0;
    ok_or_fail(aws_r53_list_records(c, zone, recs, 16, &n, err, sizeof(err)), "list", err);
    int matches = 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        if (strcmp(recs[i].name, rname) != 0 || strcmp(recs[i].type, "A") != 0)
            continue;
        matches++;
        assert_string_equal(recs[i].value, "10.0.0.2");
        assert_int_equal(recs[i].nvalues, 1);
        assert_int_equal(recs[i].ttl, 60);
    }
    assert_int_equal(matches, 1);
    /* a zone id that is not one is refused before any request */
    assert_int_equal(aws_r53_upsert(c, "../x", rname, "A", 60, "1.2.3.4", err, sizeof(err)),
                     -EINVAL);
    aws_client_free(c);
}

/* --- throttling and errors, through the fault proxy --- */

static void test_throttled_call_succeeds_after_retries_with_growing_waits(void **state)
{
    (void)state;
    /* jitter pinned to its ceiling so the waits are exactly 50, 100, 200 ms */
    struct aws_client *c = client(E.moto.proxy_url, "ec2", 6, rand_max);
    proxy_reset(3, 503, "RequestLimitExceeded");
    char vol[AWS_EC2_ID_LEN], err[AWS_ERR_MAX];
    ok_or_fail(aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)), "volume", err);
    assert_memory_equal(vol, "vol-", 4);
    const struct wm_http_retry_stats *st = aws_client_last_stats(c);
    assert_int_equal(st->attempts, 4);
    assert_true(st->delay_ms[0] < st->delay_ms[1] && st->delay_ms[1] < st->delay_ms[2]);
    assert_int_equal(st->ceiling_ms[0], 50);
    assert_int_equal(st->ceiling_ms[2], 200);
    /* the proxy saw 4 requests, and the gaps between them grew */
    double t[8];
    assert_int_equal(proxy_times(t, 8), 4);
    for (int i = 1; i < 4; i++) {
        double gap = t[i] - t[i - 1];
        assert_true(gap >= (double)st->delay_ms[i - 1] - 2.0);
        if (i > 1)
            assert_true(gap > t[i - 1] - t[i - 2]);
    }
    aws_client_free(c);
}

static void test_full_jitter_stays_under_a_doubling_ceiling(void **state)
{
    (void)state;
    struct wm_http_backoff b = {8, 100, 1000, NULL, NULL};
    long prev = 0;
    for (int n = 0; n < 8; n++) {
        long ceiling;
        for (int k = 0; k < 50; k++) {
            long d = wm_http_backoff_delay(&b, n, &ceiling);
            assert_true(d >= 0 && d <= ceiling);
        }
        assert_true(ceiling == 1000 || ceiling == 2 * prev || n == 0);
        prev = ceiling;
    }
    assert_int_equal(prev, 1000); /* capped */
}

static void test_throttling_code_on_400_is_retried(void **state)
{
    (void)state;
    struct aws_client *c = client(E.moto.proxy_url, "ec2", 4, NULL);
    proxy_reset(1, 400, "Throttling");
    char vol[AWS_EC2_ID_LEN], err[AWS_ERR_MAX];
    ok_or_fail(aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)), "volume", err);
    assert_int_equal(aws_client_last_stats(c)->attempts, 2);
    aws_client_free(c);
}

static void test_throttling_that_never_ends_gives_up_after_max_attempts(void **state)
{
    (void)state;
    struct aws_client *c = client(E.moto.proxy_url, "ec2", 3, NULL);
    proxy_reset(10, 503, "RequestLimitExceeded");
    char vol[AWS_EC2_ID_LEN], err[AWS_ERR_MAX];
    assert_int_equal(aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)), -EAGAIN);
    assert_int_equal(aws_client_last_stats(c)->attempts, 3);
    assert_non_null(strstr(err, "EC2 CreateVolume: RequestLimitExceeded: Request limit exceeded"));
    assert_non_null(strstr(err, "3 attempts"));
    double t[8];
    assert_int_equal(proxy_times(t, 8), 3);
    proxy_reset(0, 503, "RequestLimitExceeded");
    aws_client_free(c);
}

static void test_non_retryable_error_ends_at_once_with_aws_message(void **state)
{
    (void)state;
    struct aws_client *c = client(E.moto.proxy_url, "ec2", 5, NULL);
    proxy_reset(0, 503, "RequestLimitExceeded");
    char err[AWS_ERR_MAX];
    int rc = aws_ec2_authorize_ingress(c, "sg-0000000000doesnotexist", "tcp", 22, 22, "10.0.0.0/8",
                                       err, sizeof(err));
    assert_int_equal(rc, -ENOENT);
    assert_int_equal(aws_client_last_stats(c)->attempts, 1);
    assert_non_null(strstr(err, "InvalidGroup.NotFound"));
    assert_non_null(strstr(err, "The security group 'sg-0000000000doesnotexist' does not exist"));
    double t[8];
    assert_int_equal(proxy_times(t, 8), 1);
    aws_client_free(c);
}

static void test_unreachable_endpoint_fails_bounded(void **state)
{
    (void)state;
    struct aws_client *c = client("http://127.0.0.1:1", "ec2", 2, NULL);
    char vol[AWS_EC2_ID_LEN], err[AWS_ERR_MAX];
    int rc = aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err));
    assert_int_equal(rc, -ECONNREFUSED);
    assert_int_equal(aws_client_last_stats(c)->attempts, 2);
    assert_non_null(strstr(err, "EC2 CreateVolume"));
    aws_client_free(c);
}

static void test_response_over_the_size_limit_is_refused(void **state)
{
    (void)state;
    char url[96], err[512];
    snprintf(url, sizeof(url), "%s/moto-api/", E.moto.moto_url);
    struct wm_http_request req = {"GET", url, NULL, 0, NULL, 0, 5000, 2000, 64};
    struct wm_http_response r;
    assert_int_equal(wm_http_do(&req, &r, err, sizeof(err)), -EFBIG);
    assert_null(r.body);
    assert_non_null(strstr(err, "larger than 64 bytes"));
    req.url = "file:///etc/passwd"; /* only http(s) */
    assert_int_equal(wm_http_do(&req, &r, err, sizeof(err)), -EINVAL);
}

/* --- credentials from the store's value format --- */

static void test_credentials_parse_and_redaction(void **state)
{
    (void)state;
    char akid[64], secret[128], err[256];
    wm_secret *s = wm_secret_new("AKIDPARSE1:wJalrXUtnFEMI/K7MDENG+bPxRfiCYPARSE\n", 47);
    assert_int_equal(
        aws_credentials_parse(s, akid, sizeof(akid), secret, sizeof(secret), err, sizeof(err)), 0);
    assert_string_equal(akid, "AKIDPARSE1");
    assert_string_equal(secret, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYPARSE");
    char red[128];
    wm_redact("key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYPARSE", red, sizeof(red));
    assert_string_equal(red, "key=***");
    wm_secret_free(s);
    s = wm_secret_new("AKIDPARSE2\n  secret2value  \n", 28);
    assert_int_equal(
        aws_credentials_parse(s, akid, sizeof(akid), secret, sizeof(secret), err, sizeof(err)), 0);
    assert_string_equal(secret, "secret2value");
    wm_secret_free(s);
    s = wm_secret_new("only-one-part", 13);
    assert_int_equal(
        aws_credentials_parse(s, akid, sizeof(akid), secret, sizeof(secret), err, sizeof(err)),
        -EINVAL);
    assert_null(strstr(err, "only-one-part"));
    wm_secret_free(s);
}

/* --- the client built from config keys and a credential-store value --- */

static void test_client_from_config_and_from_store_value(void **state)
{
    (void)state;
    char err[AWS_ERR_MAX], vol[AWS_EC2_ID_LEN];
    struct wm_config *cfg = wm_config_new();
    assert_int_equal(aws_declare(cfg, err, sizeof(err)), 0);
    assert_int_equal(wm_config_set(cfg, "aws.endpoint", E.moto.moto_url, "test", err, sizeof(err)),
                     0);
    assert_int_equal(
        wm_config_set(cfg, "aws.access_key_id", "AKIDCONFIG", "test", err, sizeof(err)), 0);
    assert_int_equal(wm_config_set(cfg, "aws.secret_access_key", "config-secret-key-value", "test",
                                   err, sizeof(err)),
                     0);
    assert_int_equal(wm_config_set(cfg, "aws.attempts", "2", "test", err, sizeof(err)), 0);
    struct aws_config ac;
    const char *cred_name = "unset";
    assert_int_equal(aws_config_from(cfg, "ec2", &ac, &cred_name), 0);
    assert_null(cred_name);
    assert_int_equal(ac.backoff.max_attempts, 2);
    assert_int_equal(ac.backoff.base_ms, 200);
    struct aws_client *c = aws_client_with(&ac, NULL, "ec2", err, sizeof(err));
    assert_non_null(c);
    ok_or_fail(aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)), "volume", err);
    aws_client_free(c);
    /* the secret from config is redacted from logs (WM_CFG_SECRET) */
    char red[64];
    wm_redact("k=config-secret-key-value", red, sizeof(red));
    assert_string_equal(red, "k=***");
    /* credentials from a credential-store value instead */
    wm_secret *cred = wm_secret_new("AKIDSTORE:store-secret-key-value", 32);
    c = aws_client_with(&ac, cred, "ec2", err, sizeof(err));
    assert_non_null(c);
    ok_or_fail(aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)), "volume", err);
    aws_client_free(c);
    wm_secret_free(cred);
    /* a store value with a session token: sent (and signed) on every request */
    const char *with_token = "ASIASTORE:store-secret-2:FwoGZXIvYXdzSESSIONTOKEN";
    cred = wm_secret_new(with_token, strlen(with_token));
    ac.endpoint = E.moto.proxy_url;
    proxy_reset(0, 503, "RequestLimitExceeded");
    c = aws_client_with(&ac, cred, "ec2", err, sizeof(err));
    assert_non_null(c);
    ok_or_fail(aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)), "volume", err);
    aws_client_free(c);
    wm_secret_free(cred);
    char req_log[PATH_MAX + 8], line[512] = "";
    snprintf(req_log, sizeof(req_log), "%s.req", E.moto.proxy_log);
    FILE *f = fopen(req_log, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_non_null(strstr(line, " FwoGZXIvYXdzSESSIONTOKEN"));
    wm_redact("t=FwoGZXIvYXdzSESSIONTOKEN", red, sizeof(red));
    assert_string_equal(red, "t=***");
    ac.endpoint = E.moto.moto_url;
    /* route53 is signed for us-east-1 whatever the region */
    assert_int_equal(wm_config_set(cfg, "aws.region", "eu-west-3", "test", err, sizeof(err)), 0);
    assert_int_equal(aws_config_from(cfg, "route53", &ac, NULL), 0);
    assert_string_equal(ac.region, "us-east-1");
    assert_int_equal(aws_config_from(cfg, "ec2", &ac, NULL), 0);
    assert_string_equal(ac.region, "eu-west-3");
    wm_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_security_group_and_ingress_idempotent),
        cmocka_unit_test(test_volume_snapshot_image),
        cmocka_unit_test(test_launch_is_idempotent_tagged_waits_swaps_terminates),
        cmocka_unit_test(test_route53_upsert_twice_leaves_one_record_with_latest_value),
        cmocka_unit_test(test_throttled_call_succeeds_after_retries_with_growing_waits),
        cmocka_unit_test(test_full_jitter_stays_under_a_doubling_ceiling),
        cmocka_unit_test(test_throttling_code_on_400_is_retried),
        cmocka_unit_test(test_throttling_that_never_ends_gives_up_after_max_attempts),
        cmocka_unit_test(test_non_retryable_error_ends_at_once_with_aws_message),
        cmocka_unit_test(test_unreachable_endpoint_fails_bounded),
        cmocka_unit_test(test_response_over_the_size_limit_is_refused),
        cmocka_unit_test(test_credentials_parse_and_redaction),
        cmocka_unit_test(test_client_from_config_and_from_store_value),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
