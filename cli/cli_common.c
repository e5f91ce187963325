/* cli_common — helpers every `wavemill` command group uses; see cli.h. */
#include "cli.h"

#include "config.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "secrets.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLI_MSG_MAX 1024

/* --- errors --- */

static void cli_report(struct cli_ctx *ctx, const char *suffix, const char *fmt, va_list ap)
{
    char raw[CLI_MSG_MAX], msg[CLI_MSG_MAX];
    vsnprintf(raw, sizeof(raw), fmt, ap);
    /* the redactor keeps secrets (a conninfo password) out and the line one line */
    wm_redact(raw, msg, sizeof(msg));
    const char *cmd = ctx->command ? ctx->command : "";
    fprintf(stderr, "%s: %s%s%s%s\n", ctx->prog, cmd, *cmd ? ": " : "", msg, suffix);
    if (!ctx->json)
        return;
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", false);
    wm_json_kstr(j, "command", cmd);
    wm_json_kstr(j, "error", msg);
    wm_json_obj_end(j);
    if (wm_json_error(j) == 0)
        puts(wm_json_text(j));
    wm_json_free(j);
}

int cli_error(struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_report(ctx, "", fmt, ap);
    va_end(ap);
    return CLI_ERR;
}

int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_report(ctx, " (see wavemill --help)", fmt, ap);
    va_end(ap);
    return CLI_USAGE;
}

/* --- config and database --- */

struct wm_config *cli_config(struct cli_ctx *ctx)
{
    if (ctx->cfg)
        return ctx->cfg;
    char err[CLI_MSG_MAX];
    struct wm_config *cfg = wm_config_new();
    if (!cfg) {
        cli_error(ctx, "config: out of memory");
        return NULL;
    }
    const char *path = ctx->config_path;
    if (!path && getenv("WAVEMILL_CONFIG") && *getenv("WAVEMILL_CONFIG"))
        path = getenv("WAVEMILL_CONFIG");
    /* secrets.master_key: a config file shared with the workers carries it */
    if (wm_secrets_declare(cfg, err, sizeof(err)) < 0 ||
        wm_config_load(cfg, path, err, sizeof(err)) < 0 ||
        wm_config_validate(cfg, err, sizeof(err)) < 0) {
        cli_error(ctx, "config: %s", err);
        wm_config_free(cfg);
        return NULL;
    }
    enum wm_log_level level;
    const char *name = wm_config_str(cfg, "log.level");
    if (name && wm_log_parse_level(name, &level) == 0)
        wm_log_set_level(level);
    char defaults[1024];
    if (wm_config_defaults_in_use(cfg, defaults, sizeof(defaults)) > 0)
        wm_warn("config.defaults",
                "msg=\"no configuration file (--config, WAVEMILL_CONFIG) and no WAVEMILL_* "
                "variable: built-in defaults in use\" %s",
                defaults);
    ctx->cfg = cfg;
    return cfg;
}

struct wm_pg *cli_pg(struct cli_ctx *ctx)
{
    if (ctx->pg)
        return ctx->pg;
    struct wm_config *cfg = cli_config(ctx);
    if (!cfg)
        return NULL;
    char err[CLI_MSG_MAX];
    ctx->pg = wm_pg_new(cfg, err, sizeof(err));
    if (!ctx->pg)
        cli_error(ctx, "%s", err);
    return ctx->pg;
}

void cli_ctx_close(struct cli_ctx *ctx)
{
    wm_pg_free(ctx->pg);
    ctx->pg = NULL;
    wm_config_free(ctx->cfg);
    ctx->cfg = NULL;
}

/* --- audit --- */

/* A user name from the environment, if it is a plausible one. */
static bool env_user(const char *var, char *out, size_t len)
{
    const char *v = getenv(var);
    if (!v || !*v || strlen(v) >= len)
        return false;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    snprintf(out, len, "%s", v);
    return true;
}

const char *cli_actor(void)
{
    static char name[64];
    /* under sudo the person is SUDO_USER, not root */
    if (env_user("SUDO_USER", name, sizeof(name)) || env_user("USER", name, sizeof(name)))
        return name;
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(name, sizeof(name), "%s", pw->pw_name);
    else
        snprintf(name, sizeof(name), "uid:%u", (unsigned)geteuid());
    return name;
}

int cli_audit(struct cli_ctx *ctx, const char *action, const char *wave, const char *server,
              const char *detail_json)
{
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return -ENOTCONN;
    const char *p[] = {cli_actor(), action, wave, server,
                       detail_json && *detail_json ? detail_json : "{}"};
    char err[CLI_MSG_MAX];
    int rc = wm_pg_exec(db,
                        "INSERT INTO audit_log (actor, action, wave, server, detail)"
                        " VALUES ($1, $2, $3, $4, $5::jsonb)",
                        5, p, NULL, err, sizeof(err));
    if (rc < 0)
        cli_error(ctx, "audit log: %s", err);
    return rc;
}

/* --- paths --- */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cli_sql_dir(char *out, size_t outlen)
{
    const char *env = getenv("WAVEMILL_SQL_DIR");
    if (env && *env) {
        /* an explicit choice is used even if wrong, so the error names it */
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        /* a build tree (bin/, bin/asan/) or an installed PREFIX/bin */
        static const char *const rel[] = {"/../schemas/sql", "/../../schemas/sql",
                                          "/../share/wavemill/sql"};
        for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
            if ((size_t)snprintf(out, outlen, "%s%s", exe, rel[i]) < outlen && is_dir(out))
                return 0;
        }
    }
    snprintf(out, outlen, "/usr/share/wavemill/sql");
    return is_dir(out) ? 0 : -ENOENT;
}
