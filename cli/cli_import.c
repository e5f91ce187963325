/* cli_import — `wavemill import FILE.csv [--ignore-unknown] [--dry-run]`,
 * `wavemill import --template` (an intake form to fill in).  The file
 * format is described in inventory.h.
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

int cli_import(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "import";
    bool ignore_unknown = false, dry_run = false, tmpl = false;
    const struct cli_opt opts[] = {
        {"--ignore-unknown", NULL, &ignore_unknown},
        {"--dry-run", NULL, &dry_run},
        {"--template", NULL, &tmpl},
    };
    const char *path = NULL;
    int npos;
    int rc = cli_args_parse(ctx, argc, argv, 1, opts, 3, &path, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (tmpl)
        return print_template();
    if (npos != 1)
        return cli_usage_error(ctx, "which file? (wavemill import FILE.csv)");
    char err[1024];
    struct inv_file *f = inv_load(path, ignore_unknown ? INV_IGNORE_UNKNOWN : 0, err, sizeof(err));
    if (!f)
        return cli_error(ctx, "%s", err);
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
