/* cli_pki — `wavemill pki init|issue|revoke`: the factory CA and its
 * certificates.
 *
 *   wavemill pki init   --dir DIR
 *   wavemill pki issue  --dir DIR --name NAME --role agent|receiver|worker
 *                       [--days N] [--san DNS-or-IP,...]
 *                       [--server SERVER --volume VOLUME...]   (agent: one
 *                       identity per source, bound to its volumes)
 *   wavemill pki revoke --dir DIR --name NAME
 *                       (DIR/crl.pem and a copy in every identity folder;
 *                       running receivers and agents honour it at their
 *                       next handshake)
 *
 * Needs no config or database: it runs wherever the CA key is kept.  The
 * work and the certificate profile are in common/pki.c (see pki.h). */
#include "cli.h"

#include "json.h"
#include "pki.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PKI_VOLUMES_MAX 64

struct pki_opts {
    const char *dir, *name, *role, *san, *days, *server;
    const char *volumes[PKI_VOLUMES_MAX];
    size_t nvolumes;
};

/* "--opt VALUE" or "--opt=VALUE" for one of the known options; *i advances
 * past the value.  CLI_OK, or CLI_USAGE after printing why. */
static int pki_take_opt(struct cli_ctx *ctx, int argc, char **argv, int *i, struct pki_opts *o)
{
    static const char *const names[] = {"--dir",  "--name",   "--role",  "--san",
                                        "--days", "--server", "--volume"};
    const char *volume = NULL;
    const char **slots[] = {&o->dir, &o->name, &o->role, &o->san, &o->days, &o->server, &volume};
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t n = strlen(names[k]);
        if (strncmp(a, names[k], n) != 0 || (a[n] != '\0' && a[n] != '='))
            continue;
        const char *v = a[n] == '=' ? a + n + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
        if (v == NULL || v[0] == '\0')
            return cli_usage_error(ctx, "%s needs a value", names[k]);
        *slots[k] = v;
        if (volume && o->nvolumes == PKI_VOLUMES_MAX)
            return cli_usage_error(ctx, "at most %d --volume", PKI_VOLUMES_MAX);
        if (volume)
            o->volumes[o->nvolumes++] = volume;
        return CLI_OK;
    }
    return cli_usage_error(ctx, "unknown option %s", a);
}

static int pki_parse(struct cli_ctx *ctx, int argc, char **argv, struct pki_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 2; i < argc; i++) {
        int rc = pki_take_opt(ctx, argc, argv, &i, o);
        if (rc != CLI_OK)
            return rc;
    }
    if (o->dir == NULL)
        return cli_usage_error(ctx, "--dir DIR is required");
    return CLI_OK;
}

static void pki_print_json(const char *command, const char *dir, const char *name, const char *role)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_kstr(j, "command", command);
    wm_json_kstr(j, "dir", dir);
    if (name) {
        wm_json_kstr(j, "name", name);
        wm_json_kstr(j, "role", role);
    }
    wm_json_obj_end(j);
    if (wm_json_error(j) == 0)
        puts(wm_json_text(j));
    wm_json_free(j);
}

static int pki_init(struct cli_ctx *ctx, int argc, char **argv)
{
    struct pki_opts o;
    char err[1024];
    ctx->command = "pki init";
    int rc = pki_parse(ctx, argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.name || o.role || o.san || o.days || o.server || o.nvolumes)
        return cli_usage_error(ctx, "pki init takes only --dir");
    if (wm_pki_init(o.dir, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s", err);
    if (ctx->json)
        pki_print_json(ctx->command, o.dir, NULL, NULL);
    else
        printf("created the factory CA in %s (ca.key, ca.crt); keep ca.key off the fleet\n", o.dir);
    return CLI_OK;
}

static int pki_parse_days(struct cli_ctx *ctx, const char *s, int *days)
{
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (s && (errno || end == s || *end || v < 1 || v > WM_PKI_MAX_DAYS))
        return cli_usage_error(ctx, "--days must be a whole number from 1 to %d", WM_PKI_MAX_DAYS);
    *days = (int)v;
    return CLI_OK;
}

static int pki_issue(struct cli_ctx *ctx, int argc, char **argv)
{
    struct pki_opts o;
    char err[1024];
    ctx->command = "pki issue";
    int rc = pki_parse(ctx, argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.name == NULL || o.role == NULL)
        return cli_usage_error(ctx, "--name NAME and --role agent|receiver|worker are required");
    struct wm_pki_issue_req req = {.name = o.name,
                                   .role = o.role,
                                   .sans = o.san,
                                   .server = o.server,
                                   .volumes = o.volumes,
                                   .nvolumes = o.nvolumes};
    if ((rc = pki_parse_days(ctx, o.days, &req.days)) != CLI_OK)
        return rc;
    if (wm_pki_issue(o.dir, &req, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s", err);
    if (ctx->json)
        pki_print_json(ctx->command, o.dir, o.name, o.role);
    else
        printf("issued %s (role %s): %s/%s/ holds ca.crt, cert.pem, key.pem (use it as "
               "--tls-dir)\n",
               o.name, o.role, o.dir, o.name);
    return CLI_OK;
}

static int pki_revoke(struct cli_ctx *ctx, int argc, char **argv)
{
    struct pki_opts o;
    char err[1024];
    ctx->command = "pki revoke";
    int rc = pki_parse(ctx, argc, argv, &o);
    if (rc != CLI_OK)
        return rc;
    if (o.name == NULL || o.role || o.san || o.days || o.server || o.nvolumes)
        return cli_usage_error(ctx, "pki revoke takes --dir DIR --name NAME");
    if (wm_pki_revoke(o.dir, o.name, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s", err);
    if (ctx->json)
        pki_print_json(ctx->command, o.dir, o.name, "revoked");
    else
        printf("revoked %s: %s/crl.pem updated and copied into every identity folder of %s\n",
               o.name, o.dir, o.dir);
    return CLI_OK;
}

int cli_pki(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "pki";
    if (argc < 2)
        return cli_usage_error(ctx, "missing subcommand (init, issue, revoke)");
    if (strcmp(argv[1], "init") == 0)
        return pki_init(ctx, argc, argv);
    if (strcmp(argv[1], "issue") == 0)
        return pki_issue(ctx, argc, argv);
    if (strcmp(argv[1], "revoke") == 0)
        return pki_revoke(ctx, argc, argv);
    return cli_usage_error(ctx, "unknown subcommand '%s' (init, issue, revoke)", argv[1]);
}
