/* cli_import — `wavemill import FILE.csv [--format csv|cmf] [--provider P]
 * [--ignore-unknown] [--dry-run]`, `wavemill import --template` (an intake
 * form to fill in), `wavemill import --format cmf --mapping` (where each
 * Cloud Migration Factory column goes).  The file formats are described in
 * inventory.h.  Every error of a file is printed, one per line.
 *
 * The whole file is parsed and validated first (inventory.c); then the
 * upsert and its audit_log row run in one transaction, so a refused row or
 * a database error leaves the database as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"

#include "action.h"
#include "inventory.h"
#include "json.h"
#include "pg.h"

struct import_run {
    struct cli_ctx *ctx;
    const struct inv_file *file;
    struct inv_summary sum;
    bool dry_run;
};

static void print_summary(const struct import_run *run)
{
    if (run->ctx->json) {
        char *j = action_import_json(run->file, run->dry_run, &run->sum);
        if (j)
            printf("{\"ok\":true,%s\n", j + 1); /* the counts object, with "ok" first */
        free(j);
        return;
    }
    char line[512];
    inv_summary_format(&run->sum, line, sizeof(line));
    printf("%s %s: %zu row%s\n%s\n", run->dry_run ? "checked (dry run, nothing written)"
                                                  : "imported",
           run->file->name, run->file->nrows, run->file->nrows == 1 ? "" : "s", line);
}

/* An intake form to fill in: the header and one example row per OS. */
static int print_template(void)
{
    fputs("wave_name,app_name,server_name,server_fqdn,server_os_family,server_os_version,"
          "source_host,source_port,source_user,credential,disks,target_provider,instance_type,"
          "subnet_id,security_group_ids,test_security_group_ids,tags\n"
          "wave-1,billing,bill-web01,bill-web01.example.com,linux,Debian 12,10.0.1.11,22,"
          "migrate,ssh-billing,/dev/sda:20G;/dev/sdb:100G,aws,t3.large,subnet-0a1,"
          "sg-web;sg-base,sg-test,env=prod;owner=billing\n"
          "wave-1,billing,bill-app01,,windows,Server 2019,10.0.1.12,5986,Administrator,"
          "winrm-billing,\\\\.\\PhysicalDrive0:80G,exec,m5.large,subnet-0a1,sg-app,sg-test,"
          "env=prod\n",
          stdout);
    return CLI_OK;
}

static int print_cmf_mapping(void)
{
    printf("CMF COLUMN              GOES TO\n");
    const char *cmf, *goes_to;
    for (size_t i = 0; inv_cmf_col(i, &cmf, &goes_to) == 0; i++)
        printf("%-23s %s\n", cmf, goes_to);
    printf("(target_provider: --provider, aws by default; wavemill columns such as source_user,\n"
           " credential, disks and the per-server settings may be added to the sheet)\n");
    return CLI_OK;
}

/* Every error line of a refused file on stderr, then the one-line verdict. */
static int report_errors(struct cli_ctx *ctx, const char *path, const char *err)
{
    if (!strchr(err, '\n'))
        return cli_error(ctx, "%s", err);
    for (const char *p = err; *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(stderr, "%.*s\n", (int)len, p);
        p += len + (p[len] == '\n');
    }
    return cli_error(ctx, "%s refused, nothing imported (errors above)", path);
}

static void print_ignored(const struct inv_file *f)
{
    if (!f->nignored)
        return;
    fprintf(stderr, "import: ignored column%s (--ignore-unknown):", f->nignored > 1 ? "s" : "");
    for (size_t i = 0; i < f->nignored; i++)
        fprintf(stderr, "%s %s", i ? "," : "", f->ignored[i]);
    fprintf(stderr, "\n");
}

#define IMPORT_ERR_MAX 32768 /* INV_MAX_ERRORS lines */

int cli_import(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "import";
    bool ignore_unknown = false, dry_run = false, tmpl = false, mapping = false;
    const char *format = "csv", *provider = NULL;
    const struct cli_opt opts[] = {
        {"--ignore-unknown", NULL, &ignore_unknown},
        {"--dry-run", NULL, &dry_run},
        {"--template", NULL, &tmpl},
        {"--format", &format, NULL},
        {"--provider", &provider, NULL},
        {"--mapping", NULL, &mapping},
    };
    const char *path = NULL;
    int npos;
    int rc = cli_args_parse(ctx, argc, argv, 1, opts, sizeof(opts) / sizeof(opts[0]), &path, 1,
                            &npos);
    if (rc != CLI_OK)
        return rc;
    bool cmf = strcmp(format, "cmf") == 0;
    if (!cmf && strcmp(format, "csv") != 0)
        return cli_usage_error(ctx, "--format: '%s' is not csv or cmf", format);
    if (tmpl)
        return print_template();
    if (mapping)
        return cmf ? print_cmf_mapping() : cli_usage_error(ctx, "--mapping goes with --format cmf");
    if (npos != 1)
        return cli_usage_error(ctx, "which file? (wavemill import FILE.csv)");
    struct inv_opts io = {
        .flags = (ignore_unknown ? INV_IGNORE_UNKNOWN : 0u) | (cmf ? INV_FORMAT_CMF : 0u),
        .provider = provider ? provider : cmf ? "aws" : NULL,
    };
    static char err[IMPORT_ERR_MAX];
    struct inv_file *f = inv_load_opts(path, &io, err, sizeof(err));
    if (!f)
        return report_errors(ctx, path, err);
    print_ignored(f);
    struct wm_pg *db = cli_pg(ctx);
    if (!db) {
        inv_free(f);
        return CLI_ERR;
    }
    struct import_run run = {.ctx = ctx, .file = f, .dry_run = dry_run};
    struct action_who who = {"cli", cli_actor(), 0, NULL, NULL};
    rc = action_import(db, f, dry_run, &who, &run.sum, err, sizeof(err));
    if (rc == 0) {
        print_summary(&run);
        rc = CLI_OK;
    } else {
        rc = cli_error(ctx, "%s (nothing imported)", err);
    }
    inv_free(f);
    return rc;
}
