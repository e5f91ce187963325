/* cli_secret — `wavemill secret set|list|rm|rotate`: the credential store.
 *
 *   wavemill secret set NAME --from-file FILE [--master-key FILE]
 *   wavemill secret list                        (names only; --json)
 *   wavemill secret rm NAME
 *   wavemill secret rotate --new-key FILE [--master-key FILE]
 *
 * The master key file comes from --master-key or the config key
 * secrets.master_key (WAVEMILL_SECRETS_MASTER_KEY).  Values are read from a
 * file (never from the command line, where `ps` and shell history would
 * see them), stored byte for byte, registered with the log redactor at
 * once, and never printed: output, --json, errors and the audit log name
 * the secret, its size and the key id only.  The work is in
 * common/secrets.c (see secrets.h). */
#include "cli.h"
#include "cli_args.h"

#include "config.h"
#include "json.h"
#include "log.h"
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens the store; with need_key, under the master key from --master-key or
 * config, checked before the database is reached.  NULL with *rc set after
 * printing the reason. */
static struct wm_secrets *secret_store(struct cli_ctx *ctx, const char *key_opt, int need_key,
                                       int *rc)
{
    *rc = CLI_ERR;
    struct wm_config *cfg = cli_config(ctx); /* declares secrets.* */
    if (!cfg)
        return NULL;
    const char *key = key_opt ? key_opt : wm_config_str(cfg, "secrets.master_key");
    if (need_key && (!key || !*key)) {
        *rc = cli_usage_error(ctx, "no master key: give --master-key FILE or set "
                                   "secrets.master_key");
        return NULL;
    }
    char err[1024];
    struct wm_secrets *s = wm_secrets_open(NULL, need_key ? key : NULL, err, sizeof(err));
    if (!s) {
        cli_error(ctx, "%s", err);
        return NULL;
    }
    struct wm_pg *db = cli_pg(ctx);
    if (!db) {
        wm_secrets_close(s);
        return NULL;
    }
    wm_secrets_set_db(s, db);
    *rc = CLI_OK;
    return s;
}

/* Reads a value file (at most WM_SECRETS_MAX_VALUE bytes) into *buf. */
static int read_value_file(struct cli_ctx *ctx, const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_error(ctx, "cannot read %s: %s", path, strerror(errno));
    *buf = malloc(WM_SECRETS_MAX_VALUE + 2);
    size_t n = 0;
    ssize_t r = 1;
    while (*buf && r > 0 && n <= WM_SECRETS_MAX_VALUE) {
        r = read(fd, *buf + n, WM_SECRETS_MAX_VALUE + 1 - n);
        n += r > 0 ? (size_t)r : 0;
    }
    close(fd);
    if (!*buf)
        return cli_error(ctx, "out of memory");
    (*buf)[n] = '\0';
    *len = n;
    /* from here on, the value cannot reach the log or an error message */
    wm_log_register_secret(*buf);
    if (r < 0 || n == 0 || n > WM_SECRETS_MAX_VALUE) {
        OPENSSL_cleanse(*buf, n);
        free(*buf);
        *buf = NULL;
        if (r < 0)
            return cli_error(ctx, "cannot read %s", path);
        return cli_error(ctx, "%s: a secret must be 1 to %d bytes", path, WM_SECRETS_MAX_VALUE);
    }
    return CLI_OK;
}

static void print_ok_json(const char *command, const char *name, const char *key_id, long n)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_kstr(j, "command", command);
    if (name)
        wm_json_kstr(j, "name", name);
    if (key_id)
        wm_json_kstr(j, "key_id", key_id);
    if (n >= 0)
        wm_json_kint(j, name ? "bytes" : "rotated", n);
    wm_json_obj_end(j);
    if (wm_json_error(j) == 0)
        puts(wm_json_text(j));
    wm_json_free(j);
}

/* audit detail: {"name": …, "key_id": …}; never the value */
static int audit(struct cli_ctx *ctx, const char *action, const char *name, const char *key_id,
                 long count)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    if (name)
        wm_json_kstr(j, "name", name);
    if (key_id)
        wm_json_kstr(j, "key_id", key_id);
    if (count >= 0)
        wm_json_kint(j, "count", count);
    wm_json_obj_end(j);
    int rc = wm_json_error(j) == 0 ? cli_audit(ctx, action, NULL, NULL, wm_json_text(j)) : -ENOMEM;
    wm_json_free(j);
    return rc < 0 ? CLI_ERR : CLI_OK;
}

static int secret_set(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *from = NULL, *key = NULL, *pos[1];
    int npos = 0;
    const struct cli_opt opts[] = {{"--from-file", &from, NULL}, {"--master-key", &key, NULL}};
    ctx->command = "secret set";
    int rc = cli_args_parse(ctx, argc, argv, 2, opts, 2, pos, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1 || !from)
        return cli_usage_error(ctx, "usage: secret set NAME --from-file FILE");
    if (!wm_secrets_valid_name(pos[0]))
        return cli_usage_error(ctx, "bad secret name (A-Z a-z 0-9 . _ @ / + -, at most %d)",
                               WM_SECRETS_MAX_NAME);
    char *value = NULL, err[1024];
    size_t len = 0;
    if ((rc = read_value_file(ctx, from, &value, &len)) != CLI_OK)
        return rc;
    struct wm_secrets *s = secret_store(ctx, key, 1, &rc);
    int e = s ? wm_secrets_set(s, pos[0], value, len, err, sizeof(err)) : -1;
    OPENSSL_cleanse(value, len);
    free(value);
    if (s && e < 0)
        rc = cli_error(ctx, "%s", err);
    else if (s)
        rc = audit(ctx, "secret.set", pos[0], wm_secrets_key_id(s), -1);
    if (rc == CLI_OK && ctx->json)
        print_ok_json(ctx->command, pos[0], wm_secrets_key_id(s), (long)len);
    else if (rc == CLI_OK)
        printf("stored secret %s (%zu bytes, master key %s)\n", pos[0], len, wm_secrets_key_id(s));
    wm_secrets_close(s);
    return rc;
}

static void print_list(struct cli_ctx *ctx, const struct wm_secrets_entry *l, size_t n)
{
    if (!ctx->json) {
        for (size_t i = 0; i < n; i++)
            printf("%-40s key %s  updated %s\n", l[i].name, l[i].key_id, l[i].updated_at);
        if (n == 0)
            printf("no secrets\n");
        return;
    }
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_key(j, "secrets");
    wm_json_arr_begin(j);
    for (size_t i = 0; i < n; i++) {
        wm_json_obj_begin(j);
        wm_json_kstr(j, "name", l[i].name);
        wm_json_kstr(j, "key_id", l[i].key_id);
        wm_json_kstr(j, "updated_at", l[i].updated_at);
        wm_json_obj_end(j);
    }
    wm_json_arr_end(j);
    wm_json_obj_end(j);
    cli_print_json(ctx, j);
    wm_json_free(j);
}

static int secret_list(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *pos[1];
    int npos = 0;
    ctx->command = "secret list";
    int rc = cli_args_parse(ctx, argc, argv, 2, NULL, 0, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    struct wm_secrets *s = secret_store(ctx, NULL, 0, &rc);
    if (!s)
        return rc;
    struct wm_secrets_entry *list = NULL;
    size_t n = 0;
    char err[1024];
    if (wm_secrets_list(s, &list, &n, err, sizeof(err)) < 0)
        rc = cli_error(ctx, "%s", err);
    else
        print_list(ctx, list, n);
    wm_secrets_list_free(list);
    wm_secrets_close(s);
    return rc;
}

static int secret_rm(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *pos[1];
    int npos = 0;
    ctx->command = "secret rm";
    int rc = cli_args_parse(ctx, argc, argv, 2, NULL, 0, pos, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(ctx, "usage: secret rm NAME");
    struct wm_secrets *s = secret_store(ctx, NULL, 0, &rc);
    if (!s)
        return rc;
    char err[1024];
    if (wm_secrets_rm(s, pos[0], err, sizeof(err)) < 0)
        rc = cli_error(ctx, "%s", err);
    else
        rc = audit(ctx, "secret.rm", pos[0], NULL, -1);
    if (rc == CLI_OK && ctx->json)
        print_ok_json(ctx->command, pos[0], NULL, -1);
    else if (rc == CLI_OK)
        printf("removed secret %s\n", pos[0]);
    wm_secrets_close(s);
    return rc;
}

static int secret_rotate(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *nk = NULL, *key = NULL, *pos[1];
    int npos = 0;
    const struct cli_opt opts[] = {{"--new-key", &nk, NULL}, {"--master-key", &key, NULL}};
    ctx->command = "secret rotate";
    int rc = cli_args_parse(ctx, argc, argv, 2, opts, 2, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (!nk)
        return cli_usage_error(ctx, "usage: secret rotate --new-key FILE");
    struct wm_secrets *s = secret_store(ctx, key, 1, &rc);
    if (!s)
        return rc;
    char err[1024];
    int count = 0;
    if (wm_secrets_rotate(s, nk, &count, err, sizeof(err)) < 0)
        rc = cli_error(ctx, "%s (nothing changed)", err);
    else
        rc = audit(ctx, "secret.rotate", NULL, wm_secrets_key_id(s), count);
    if (rc == CLI_OK && ctx->json)
        print_ok_json(ctx->command, NULL, wm_secrets_key_id(s), count);
    else if (rc == CLI_OK)
        printf("re-encrypted %d secrets under master key %s; use the new key file from now on\n",
               count, wm_secrets_key_id(s));
    wm_secrets_close(s);
    return rc;
}

int cli_secret(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "secret";
    if (argc < 2)
        return cli_usage_error(ctx, "missing subcommand (set, list, rm, rotate)");
    if (strcmp(argv[1], "set") == 0)
        return secret_set(ctx, argc, argv);
    if (strcmp(argv[1], "list") == 0)
        return secret_list(ctx, argc, argv);
    if (strcmp(argv[1], "rm") == 0)
        return secret_rm(ctx, argc, argv);
    if (strcmp(argv[1], "rotate") == 0)
        return secret_rotate(ctx, argc, argv);
    return cli_usage_error(ctx, "unknown subcommand '%s' (set, list, rm, rotate)", argv[1]);
}
