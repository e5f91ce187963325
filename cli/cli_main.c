/* wavemill — the operator command: global options, then one command group.
 * Parsing only; the work is in cli/cli_<group>.c (see cli.h). */
#include "cli.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

struct cli_group {
    const char *name;
    int (*run)(struct cli_ctx *ctx, int argc, char **argv);
    const char *help; /* one line per subcommand: "  <sub> ARGS   what it does\n" */
};

/* The command table.  A new group is one line here plus its cli_<group>.c. */
static const struct cli_group cli_groups[] = {
    {"db", cli_db,
     "  db migrate [--dir DIR]   apply the SQL migrations not yet applied\n"
     "  db status [--dir DIR]    show the schema version and pending migrations\n"},
    {"import", cli_import,
     "  import FILE.csv [--ignore-unknown] [--dry-run] [--format csv|cmf] [--provider P]\n"
     "                           load the intake form (one row per server); all or nothing;\n"
     "                           --format cmf: AWS Cloud Migration Factory's intake form as is\n"
     "  import --format cmf --mapping   where each CMF column goes\n"
     "  import --template        print an intake form to fill in (CSV header and examples)\n"},
    {"wave", cli_wave,
     "  wave create NAME [--cutover-at TIME] [--max-parallel N] [--max-launching N] [--priority "
     "N]\n"
     "  wave set NAME [--max-parallel N] [--max-launching N] [--priority N]\n"
     "  wave list | wave show NAME     waves, servers by lifecycle, running/failed tasks\n"
     "  wave set NAME [--require-approval yes|no] [--source-shutdown after_validate|after_final_delta]\n"
     "           [--finalize-after manual|N(s|m|h|d)]   cutover policy\n"
     "  wave check NAME          pre-flight: every configuration/inventory problem at once\n"
     "  wave start NAME [--force]   runs the pre-flight first (--force starts despite errors)\n"
     "  wave pause|resume NAME\n"
     "  wave cutover NAME [--at TIME] [--yes] [--dry-run]\n"
     "                           set or bring forward the cutover window (asks when it opens now)\n"
     "  wave approve|finalize NAME, wave revert NAME [--to testing|cutover] [--force] [--yes]\n"
     "                           the server actions below on every server they apply to\n"
     "                           TIME: 2026-11-22T03:00:00Z (UTC without offset), now, +10m, +2h, +1d\n"},
    {"server", cli_server,
     "  server show NAME         inventory, lifecycle, disks, tasks and their last errors\n"
     "  server retry NAME...|--failed --wave W   give FAILED servers' failed steps new attempts\n"
     "  server skip NAME... --task KIND          pass over one pipeline step\n"
     "  server approve NAME...   mark tested servers ready for cutover (and lift a rollback's hold)\n"
     "  server revert NAME... [--to testing|cutover] [--force]\n"
     "                           roll back to READY_FOR_TEST / READY_FOR_CUTOVER before finalize\n"
     "  server finalize NAME...  accept the cutover: decommission (agent, test instances) runs\n"
     "  server set NAME|--wave WAVE key=value...   per-server settings (transport, stop_command,\n"
     "                           probes, agent_dir, ...) or intake columns, validated like the intake\n"
     "  server unset NAME|--wave WAVE key...       back to the wave's value or the default\n"},
    {"worker", cli_worker,
     "  worker list              live workers (heartbeats) and the tasks they hold\n"},
    {"status", cli_status,
     "  status [--wave NAME]     per wave: servers by lifecycle, tasks, bytes; per server with "
     "--wave\n"},
    {"watch", cli_watch,
     "  watch [--wave NAME] [--count N] [--timeout S]\n"
     "                           follow wm.status live, one line per event (Ctrl-C stops)\n"},
    {"topics", cli_topics,
     "  topics ensure [--partitions N] [TOPIC...]\n"
     "                           create the factory's topics (with kafka.topic_prefix) if missing\n"
     "  topics group GROUP       a consumer group as the brokers see it (state, members,\n"
     "                           assigned partitions), e.g. wavemill-workers\n"
     "  topics grant --principal User:NAME --role scheduler|worker|monitor\n"
     "                           the broker ACLs of one principal (docs/security.md); needs a\n"
     "                           broker with an authorizer and an admin principal in the config\n"},
    {"pki", cli_pki,
     "  pki init --dir DIR       create the factory CA (DIR/ca.key, DIR/ca.crt)\n"
     "  pki issue --dir DIR --name NAME --role agent|receiver|worker [--days N] [--san H,...]\n"
     "            [--server SERVER --volume VOLUME...]\n"
     "                           issue DIR/NAME/{ca.crt,cert.pem,key.pem} (a --tls-dir); an agent\n"
     "                           bound to its server may touch only the volumes named\n"
     "  pki revoke --dir DIR --name NAME\n"
     "                           revoke NAME: DIR/crl.pem, copied into every identity folder\n"},
    {"config", cli_config_cmd,
     "  config check FILE        validate FILE for the CLI and every daemon installed beside it\n"
     "  config print             the effective configuration of the CLI (secrets as ***)\n"
     "  config reference         every key the CLI reads (tab-separated; docs/configuration.md)\n"
     "  config settings          the per-server settings: key, values, default, reader\n"},
    {"secret", cli_secret,
     "  secret set NAME --from-file FILE [--master-key FILE]\n"
     "                           store a credential, encrypted (AES-256-GCM) under the master key\n"
     "  secret list              names of the stored credentials (never their values)\n"
     "  secret rm NAME           delete a credential\n"
     "  secret rotate --new-key FILE [--master-key FILE]\n"
     "                           re-encrypt every credential under a new master key\n"},
    {"token", cli_token,
     "  token create NAME --role viewer|operator|admin [--expires 30d]\n"
     "                           an API token, printed once (only its hash is stored)\n"
     "  token list | token revoke NAME\n"},
};

#define CLI_NGROUPS (sizeof(cli_groups) / sizeof(cli_groups[0]))

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: wavemill [--config FILE] [--json] <command> <subcommand> [args...]\n"
            "\n"
            "The wavemill operator command: waves, servers and the factory's database.\n"
            "\n"
            "options:\n"
            "  --config FILE   config file (key = value, [section]; default $WAVEMILL_CONFIG);\n"
            "                  WAVEMILL_* env vars override it\n"
            "  --json          machine-readable output on stdout\n"
            "  --help, -h      this help\n"
            "  --version       print the version\n"
            "  --print-config  same as 'config print'\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < CLI_NGROUPS; i++)
        fputs(cli_groups[i].help, out);
    fprintf(out, "\n'wavemill <command> --help' describes one command.\n"
                 "Exit status: 0 ok, 1 the command failed, 2 bad command line.\n");
}

/* Takes the value of an option given as "--opt VALUE" or "--opt=VALUE";
 * advances *i past it.  NULL if missing. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* Parses global options into ctx; returns the index of the command, or
 * -CLI_OK / -CLI_USAGE when the run is over (help, version, bad option). */
static int parse_globals(struct cli_ctx *ctx, int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(stdout);
            return -CLI_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf("wavemill %s\n", WAVEMILL_VERSION);
            return -CLI_OK;
        }
        if (strcmp(a, "--print-config") == 0)
            return -cli_config_cmd(ctx, 2, (char *[]){"config", "print", NULL});
        if (strcmp(a, "--json") == 0) {
            ctx->json = true;
        } else if (strcmp(a, "--config") == 0 || strncmp(a, "--config=", 9) == 0) {
            ctx->config_path = option_value(argc, argv, &i, "--config");
            if (!ctx->config_path || !*ctx->config_path)
                return -cli_usage_error(ctx, "--config needs a file name");
        } else {
            return -cli_usage_error(ctx, "unknown option %s", a);
        }
    }
    return i;
}

static int dispatch(struct cli_ctx *ctx, int argc, char **argv)
{
    if (argc == 0)
        return cli_usage_error(ctx, "no command given");
    for (size_t i = 0; i < CLI_NGROUPS; i++) {
        if (strcmp(argv[0], cli_groups[i].name) != 0)
            continue;
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            printf("usage:\n%s", cli_groups[i].help);
            return CLI_OK;
        }
        return cli_groups[i].run(ctx, argc, argv);
    }
    if (strcmp(argv[0], "help") == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    return cli_usage_error(ctx, "unknown command '%s'", argv[0]);
}

int main(int argc, char **argv)
{
    struct cli_ctx ctx = {.prog = "wavemill"};
    wm_log_set_component("cli");
    int first = parse_globals(&ctx, argc, argv);
    if (first <= 0)
        return -first;
    int rc = dispatch(&ctx, argc - first, argv + first);
    cli_ctx_close(&ctx);
    return rc;
}
