/* cli_token — `wavemill token create|list|revoke`: API tokens.
 *
 *   wavemill token create NAME --role viewer|operator|admin [--expires DUR]
 *                       DUR: 3600s, 90m, 12h, 30d (default: never)
 *   wavemill token list          names, roles, expiry, state (never secrets)
 *   wavemill token revoke NAME
 *
 * create prints the token once on stdout (the database keeps its hash
 * only); everything else, --json and the audit log included, names the
 * token and its role, never the secret.  The work is in common/apitoken.c. */
#include "cli.h"
#include "cli_args.h"

#include "apitoken.h"
#include "json.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "30d" -> seconds; -1 when malformed */
static long long parse_duration(const char *s)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end == s || n <= 0 || n > 36500LL * 86400)
        return -1;
    long long mult = !*end || strcmp(end, "s") == 0 ? 1
                     : strcmp(end, "m") == 0        ? 60
                     : strcmp(end, "h") == 0        ? 3600
                     : strcmp(end, "d") == 0        ? 86400
                                                    : -1;
    return mult < 0 || n > 36500LL * 86400 / mult ? -1 : n * mult;
}

static int token_audit(struct cli_ctx *ctx, const char *action, const char *name,
                       const char *role)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kstr(j, "token", name);
    if (role)
        wm_json_kstr(j, "role", role);
    wm_json_obj_end(j);
    int rc = wm_json_error(j) == 0 ? cli_audit(ctx, action, NULL, NULL, wm_json_text(j)) : -ENOMEM;
    wm_json_free(j);
    return rc;
}

static int token_create(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *role = NULL, *expires = NULL, *name = NULL;
    const struct cli_opt opts[] = {{"--role", &role, NULL}, {"--expires", &expires, NULL}};
    int rc = cli_args_name(ctx, argc, argv, opts, 2, "token", WM_APITOKEN_NAME_MAX,
                           "token create NAME --role viewer|operator|admin [--expires 30d]", &name);
    if (rc != CLI_OK)
        return rc;
    if (!role || wm_role_parse(role) == WM_ROLE_NONE)
        return cli_usage_error(ctx, "--role must be viewer, operator or admin");
    long long ttl = expires ? parse_duration(expires) : 0;
    if (ttl < 0)
        return cli_usage_error(ctx, "--expires '%s': give a duration like 3600s, 90m, 12h, 30d",
                               expires);
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return CLI_ERR;
    char tok[WM_APITOKEN_LEN + 1], err[512];
    if (wm_apitoken_create(db, name, role, ttl, cli_actor(), tok, sizeof(tok), NULL, err,
                           sizeof(err)) < 0)
        return cli_error(ctx, "%s", err);
    rc = token_audit(ctx, "token.create", name, role) < 0 ? CLI_ERR : CLI_OK;
    if (ctx->json)
        printf("{\"ok\":true,\"command\":\"token create\",\"name\":\"%s\",\"role\":\"%s\","
               "\"token\":\"%s\"}\n",
               name, role, tok); /* name checked to [A-Za-z0-9._@-] */
    else
        printf("%s\n", tok);
    if (!ctx->json)
        fprintf(stderr, "token '%s' (%s) created; it is shown only now: keep it safe\n", name,
                role);
    OPENSSL_cleanse(tok, sizeof(tok));
    return rc;
}

static int token_revoke(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL;
    int rc = cli_args_name(ctx, argc, argv, NULL, 0, "token", WM_APITOKEN_NAME_MAX,
                           "token revoke NAME", &name);
    if (rc != CLI_OK)
        return rc;
    struct wm_pg *db = cli_pg(ctx);
    char err[512];
    if (!db)
        return CLI_ERR;
    if (wm_apitoken_revoke(db, name, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s", err);
    if (token_audit(ctx, "token.revoke", name, NULL) < 0)
        return CLI_ERR;
    if (ctx->json)
        printf("{\"ok\":true,\"command\":\"token revoke\",\"name\":\"%s\"}\n", name);
    else
        printf("token '%s' revoked\n", name);
    return CLI_OK;
}

static int token_list(struct cli_ctx *ctx, int argc, char **argv)
{
    int npos = 0;
    if (cli_args_parse(ctx, argc, argv, 2, NULL, 0, NULL, 0, &npos) != CLI_OK)
        return CLI_USAGE;
    PGresult *r = cli_query(
        ctx,
        "SELECT name, role, created_by, to_char(created_at AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created, coalesce(to_char(expires_at AT TIME ZONE"
        " 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') AS expires, CASE WHEN revoked_at IS NOT"
        " NULL THEN 'revoked' WHEN expires_at <= now() THEN 'expired' ELSE 'active' END AS state"
        " FROM api_tokens ORDER BY name",
        0, NULL);
    if (!r)
        return CLI_ERR;
    static const char *const cols[] = {"name", "role", "created_by", "created", "expires",
                                       "state"};
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_key(j, "tokens");
    wm_json_arr_begin(j);
    if (!ctx->json)
        printf("%-24s %-9s %-8s %-21s %s\n", "NAME", "ROLE", "STATE", "EXPIRES", "CREATED BY");
    for (int i = 0; i < PQntuples(r); i++) {
        wm_json_obj_begin(j);
        for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
            wm_json_kstr(j, cols[c], cli_val(r, i, cols[c]));
        wm_json_obj_end(j);
        if (!ctx->json)
            printf("%-24s %-9s %-8s %-21s %s\n", cli_val(r, i, "name"), cli_val(r, i, "role"),
                   cli_val(r, i, "state"), *cli_val(r, i, "expires") ? cli_val(r, i, "expires") : "never",
                   cli_val(r, i, "created_by"));
    }
    wm_json_arr_end(j);
    wm_json_obj_end(j);
    if (ctx->json && wm_json_error(j) == 0)
        puts(wm_json_text(j));
    wm_json_free(j);
    PQclear(r);
    return CLI_OK;
}

int cli_token(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (strcmp(sub, "create") == 0)
        return ctx->command = "token create", token_create(ctx, argc, argv);
    if (strcmp(sub, "revoke") == 0)
        return ctx->command = "token revoke", token_revoke(ctx, argc, argv);
    if (strcmp(sub, "list") == 0)
        return ctx->command = "token list", token_list(ctx, argc, argv);
    ctx->command = "token";
    return cli_usage_error(ctx, "token needs create, list or revoke");
}
