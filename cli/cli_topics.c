/* cli_topics — `wavemill topics ensure`: creates the factory's Kafka topics
 * (docs/architecture.md "Topics") that do not exist yet.  The local stack
 * and tests call it; operators call it once per cluster.  `wavemill topics
 * group G`: the brokers' view of a consumer group (state, members, assigned
 * partitions), which tests and benchmarks wait on.  `wavemill topics grant
 * --principal P --role R`: the broker ACLs one principal needs (kafka_acl.h,
 * docs/security.md), run as an administrator of a broker with an authorizer. */
#include "cli.h"
#include "cli_args.h"

#include "config.h"
#include "kafka.h"
#include "kafka_acl.h"

#include <stdio.h>
#include <string.h>

#define TOPICS_MAX 16
#define TOPIC_NAME_MAX 256

static const char *const default_topics[] = {WM_TOPIC_TASKS_CONTROL, WM_TOPIC_TASKS_REPLICATION,
                                             WM_TOPIC_STATUS, WM_TOPIC_DLQ};

static int topics_ensure(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *partitions_s = "6", *pos[TOPICS_MAX];
    int npos = 0;
    struct cli_opt opts[] = {{"--partitions", &partitions_s, NULL}};
    int rc = cli_args_parse(ctx, argc, argv, 2, opts, 1, pos, TOPICS_MAX, &npos);
    long partitions;
    if (rc != CLI_OK ||
        (rc = cli_args_int(ctx, "--partitions", partitions_s, 1, 1000, &partitions)) != CLI_OK)
        return rc;
    struct wm_config *cfg = cli_config(ctx);
    if (!cfg)
        return CLI_ERR;
    /* logical names (the defaults, or the arguments) get kafka.topic_prefix */
    char names[TOPICS_MAX][TOPIC_NAME_MAX];
    const char *full[TOPICS_MAX];
    size_t n = npos ? (size_t)npos : sizeof(default_topics) / sizeof(default_topics[0]);
    for (size_t i = 0; i < n; i++)
        full[i] = wm_kafka_topic(cfg, npos ? pos[i] : default_topics[i], names[i], TOPIC_NAME_MAX);
    char err[512];
    int created = 0;
    if (wm_kafka_ensure_topics(cfg, full, n, (int)partitions, 15000, &created, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s (brokers %s)", err, wm_config_str(cfg, "kafka.brokers"));
    printf("topics: %d created, %zu already there (", created, n - (size_t)created);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", full[i]);
    printf(")\n");
    return CLI_OK;
}

/* `topics group GROUP`: the brokers' view of consumer group
 * kafka.topic_prefix + GROUP (e.g. wavemill-workers), one line:
 * "group NAME state STATE members N partitions P". */
static int topics_group(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *pos[1];
    int npos = 0;
    int rc = cli_args_parse(ctx, argc, argv, 2, NULL, 0, pos, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(ctx, "usage: wavemill topics group GROUP");
    struct wm_config *cfg = cli_config(ctx);
    if (!cfg)
        return CLI_ERR;
    char name[TOPIC_NAME_MAX], err[512];
    snprintf(name, sizeof(name), "%s%s", wm_config_str(cfg, "kafka.topic_prefix"), pos[0]);
    struct wm_kafka_group g;
    if (wm_kafka_describe_group(cfg, name, 10000, &g, err, sizeof(err)) < 0)
        return cli_error(ctx, "group %s: %s (brokers %s)", name, err,
                         wm_config_str(cfg, "kafka.brokers"));
    printf("group %s state %s members %d partitions %d\n", name, g.state, g.members,
           g.partitions);
    return CLI_OK;
}

static int topics_grant(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *principal = NULL, *role = NULL;
    struct cli_opt opts[] = {{"--principal", &principal, NULL}, {"--role", &role, NULL}};
    int npos = 0;
    int rc = cli_args_parse(ctx, argc, argv, 2, opts, 2, NULL, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (!principal || !role)
        return cli_usage_error(ctx, "usage: wavemill topics grant --principal User:NAME --role "
                                    "scheduler|worker|monitor");
    struct wm_config *cfg = cli_config(ctx);
    if (!cfg)
        return CLI_ERR;
    char err[512];
    if (wm_kafka_acl_grant(cfg, principal, role, 15000, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s (brokers %s)", err, wm_config_str(cfg, "kafka.brokers"));
    printf("granted %s the ACLs of a %s (topic prefix '%s')\n", principal, role,
           wm_config_str(cfg, "kafka.topic_prefix"));
    return CLI_OK;
}

int cli_topics(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "topics";
    if (argc >= 2 && strcmp(argv[1], "ensure") == 0) {
        ctx->command = "topics ensure";
        return topics_ensure(ctx, argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "group") == 0) {
        ctx->command = "topics group";
        return topics_group(ctx, argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "grant") == 0) {
        ctx->command = "topics grant";
        return topics_grant(ctx, argc, argv);
    }
    return cli_usage_error(ctx, "usage: wavemill topics ensure [--partitions N] [TOPIC...]"
                                " | wavemill topics group GROUP"
                                " | wavemill topics grant --principal P --role R");
}
