/* Broker authentication and authorization (issue 9, finding 1): a broker
 * of its own (deploy/local/kafka-secure: SASL_SSL with SCRAM-SHA-512 and a
 * mutual-TLS listener, StandardAuthorizer, no ACL = deny), the ACLs of
 * kafka_acl.h granted per principal, and wavemill's own clients:
 *   - the scheduler principal publishes tasks;
 *   - a worker or monitor principal (SASL or mTLS) cannot inject a task:
 *     the delivery fails and the topic holds only the scheduler's message;
 *   - a wrong password or a plaintext client gets nothing through;
 *   - a half-configured client fails at start naming the key to fix. */
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

#include "../support/common_repo.h"
#include "config.h"
#include "kafka.h"
#include "kafka_acl.h"
#include "log.h"

#define WAIT_MS 20000

static char repo[1024], dir[128], prefix[96], tasks_topic[256];
static int sasl_port, mtls_port, ctl_port;
static char users[8][2][64];
static int nusers;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int broker(const char *verb)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "WM_KAFKA_SASL_PORT=%d WM_KAFKA_MTLS_PORT=%d WM_KAFKA_SEC_CONTROLLER_PORT=%d "
             "'%s/deploy/local/kafka-secure' %s '%s'",
             sasl_port, mtls_port, ctl_port, repo, verb, dir);
    return system(cmd);
}

static const char *password_of(const char *user)
{
    for (int i = 0; i < nusers; i++)
        if (strcmp(users[i][0], user) == 0)
            return users[i][1];
    fail_msg("no SCRAM user %s", user);
    return NULL;
}

static void set(struct wm_config *c, const char *k, const char *v)
{
    char err[512];
    if (wm_config_set(c, k, v, "test", err, sizeof(err)) < 0)
        fail_msg("%s", err);
}

/* A client config: SASL_SSL as user (password NULL: the real one), or
 * mutual TLS as certificate name when user is NULL. */
static struct wm_config *client(const char *user, const char *password, const char *cert_name)
{
    struct wm_config *c = wm_config_new();
    char v[512];
    set(c, "kafka.topic_prefix", prefix);
    set(c, "kafka.flush_timeout", "2s");
    snprintf(v, sizeof(v), "%s/pki/ca.crt", dir);
    set(c, "kafka.ssl_ca", v);
    if (user) {
        snprintf(v, sizeof(v), "127.0.0.1:%d", sasl_port);
        set(c, "kafka.brokers", v);
        set(c, "kafka.security_protocol", "sasl_ssl");
        set(c, "kafka.sasl_username", user);
        set(c, "kafka.sasl_password", password ? password : password_of(user));
    } else {
        snprintf(v, sizeof(v), "127.0.0.1:%d", mtls_port);
        set(c, "kafka.brokers", v);
        set(c, "kafka.security_protocol", "ssl");
        snprintf(v, sizeof(v), "%s/pki/%s.crt", dir, cert_name);
        set(c, "kafka.ssl_cert", v);
        snprintf(v, sizeof(v), "%s/pki/%s.key", dir, cert_name);
        set(c, "kafka.ssl_key", v);
    }
    return c;
}

static void read_users(void)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/users", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    while (nusers < 8 && fscanf(f, "%63s %63s", users[nusers][0], users[nusers][1]) == 2)
        nusers++;
    fclose(f);
}

static void grant(struct wm_config *admin, const char *principal, const char *role)
{
    char err[512];
    if (wm_kafka_acl_grant(admin, principal, role, WAIT_MS, err, sizeof(err)) < 0)
        fail_msg("grant %s to %s: %s", role, principal, err);
}

static int setup(void **state)
{
    (void)state;
    char err[512];
    fixture_find_repo(repo, sizeof(repo), "deploy/local/kafka-secure", X_OK);
    snprintf(dir, sizeof(dir), "/tmp/wm-kafka-secure.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    sasl_port = free_port(), mtls_port = free_port(), ctl_port = free_port();
    if (broker("start") != 0)
        return -1;
    read_users();
    snprintf(prefix, sizeof(prefix), "sec.%d.", (int)getpid());
    struct wm_config *admin = client("admin", NULL, NULL);
    const char *names[] = {WM_TOPIC_TASKS_CONTROL, WM_TOPIC_TASKS_REPLICATION, WM_TOPIC_STATUS,
                           WM_TOPIC_DLQ};
    char full[4][256];
    const char *topics[4];
    for (int i = 0; i < 4; i++) {
        snprintf(full[i], sizeof(full[i]), "%s%s", prefix, names[i]);
        topics[i] = full[i];
    }
    snprintf(tasks_topic, sizeof(tasks_topic), "%s", full[0]);
    if (wm_kafka_ensure_topics(admin, topics, 4, 1, WAIT_MS, NULL, err, sizeof(err)) < 0) {
        print_error("topics: %s\n", err);
        return -1;
    }
    grant(admin, "User:scheduler", "scheduler");
    grant(admin, "User:worker", "worker");
    grant(admin, "User:monitor", "monitor");
    grant(admin, "User:CN=worker", "worker");
    wm_config_free(admin);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    broker("stop");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Sends value to the tasks topic as cfg's principal; wm_kafka_flush's answer. */
static int publish(struct wm_config *cfg, const char *value)
{
    char err[512];
    struct wm_kafka_producer *p = wm_kafka_producer_new(cfg, err, sizeof(err));
    if (!p)
        fail_msg("producer: %s", err);
    int rc = wm_kafka_send(p, tasks_topic, "k", 1, value, strlen(value), NULL, 0, err, sizeof(err));
    if (rc == 0)
        rc = wm_kafka_flush(p, 10000);
    wm_kafka_producer_free(p);
    return rc;
}

/* How many messages equal to value the tasks topic holds, read as cfg's
 * principal in group (from the beginning, until 4 s without news). */
static int count_in_tasks(struct wm_config *cfg, const char *group, const char *value)
{
    char err[512];
    const char *topics[] = {tasks_topic};
    struct wm_kafka_consumer *c = wm_kafka_consumer_new(cfg, group, topics, 1, 0, err, sizeof(err));
    if (!c)
        fail_msg("consumer: %s", err);
    int n = 0, idle = 0;
    while (idle < 4) {
        rd_kafka_message_t *m = wm_kafka_poll(c, 1000);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        n += m->len == strlen(value) && memcmp(m->payload, value, m->len) == 0;
        wm_kafka_message_free(m);
    }
    wm_kafka_consumer_free(c);
    return n;
}

static int admin_count(const char *value)
{
    static int seq;
    char group[64];
    snprintf(group, sizeof(group), "admin-check-%d-%d", (int)getpid(), ++seq);
    struct wm_config *admin = client("admin", NULL, NULL);
    int n = count_in_tasks(admin, group, value);
    wm_config_free(admin);
    return n;
}

static void test_scheduler_principal_publishes_tasks(void **state)
{
    (void)state;
    struct wm_config *c = client("scheduler", NULL, NULL);
    /* ACLs reach the broker's authorizer shortly after they were granted:
     * until then the producer is refused its idempotence id (and is done) */
    int rc = -1;
    for (int i = 0; i < 20 && rc != 0; i++)
        if ((rc = publish(c, "task 1 attempt 1 is ready")) != 0)
            sleep(1);
    assert_int_equal(rc, 0);
    wm_config_free(c);
    assert_int_equal(admin_count("task 1 attempt 1 is ready"), 1);
}

static void test_worker_and_monitor_principals_cannot_inject_tasks(void **state)
{
    (void)state;
    const char *who[] = {"worker", "monitor"};
    for (int i = 0; i < 2; i++) {
        struct wm_config *c = client(who[i], NULL, NULL);
        int rc = publish(c, "forged: stop_command=id");
        wm_config_free(c);
        if (rc == 0)
            fail_msg("principal %s published to %s", who[i], tasks_topic);
    }
    assert_int_equal(admin_count("forged: stop_command=id"), 0);
}

static void test_mtls_worker_reads_tasks_but_cannot_write_them(void **state)
{
    (void)state;
    struct wm_config *c = client(NULL, NULL, "worker");
    char group[128];
    snprintf(group, sizeof(group), "%swavemill-workers", prefix);
    assert_int_equal(count_in_tasks(c, group, "task 1 attempt 1 is ready"), 1);
    assert_true(publish(c, "forged over mTLS") != 0);
    wm_config_free(c);
    assert_int_equal(admin_count("forged over mTLS"), 0);
}

static void test_wrong_password_and_plaintext_get_nothing_through(void **state)
{
    (void)state;
    struct wm_config *c = client("scheduler", "not-the-password", NULL);
    assert_true(publish(c, "forged with a guessed password") != 0);
    wm_config_free(c);
    c = client("scheduler", NULL, NULL);
    set(c, "kafka.security_protocol", "plaintext");
    set(c, "kafka.ssl_ca", "");
    assert_true(publish(c, "forged in plaintext") != 0);
    wm_config_free(c);
    assert_int_equal(admin_count("forged with a guessed password"), 0);
    assert_int_equal(admin_count("forged in plaintext"), 0);
}

static void test_half_configured_security_fails_at_start(void **state)
{
    (void)state;
    char err[512] = "";
    struct wm_config *c = client("scheduler", NULL, NULL);
    set(c, "kafka.sasl_password", "");
    assert_null(wm_kafka_producer_new(c, err, sizeof(err)));
    assert_non_null(strstr(err, "kafka.sasl_password"));
    set(c, "kafka.security_protocol", "tls-please");
    assert_null(wm_kafka_producer_new(c, err, sizeof(err)));
    assert_non_null(strstr(err, "kafka.security_protocol"));
    wm_config_free(c);
}

int main(void)
{
    wm_log_set_component("test_kafka_secure");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheduler_principal_publishes_tasks),
        cmocka_unit_test(test_worker_and_monitor_principals_cannot_inject_tasks),
        cmocka_unit_test(test_mtls_worker_reads_tasks_but_cannot_write_them),
        cmocka_unit_test(test_wrong_password_and_plaintext_get_nothing_through),
        cmocka_unit_test(test_half_configured_security_fails_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
