/* cli_config — `wavemill config check|print|reference`: the one
 * configuration file, seen by every program that reads it.
 *
 * `config check FILE` loads FILE as the CLI does, then asks each daemon
 * installed next to this program (wavemill-scheduler, -worker, -receiver,
 * -agent, -api) to load it too (`--config FILE --check`): each program is
 * the authority on its own keys, and a daemon not installed here is said
 * to be skipped.  The daemons see FILE only: WAVEMILL_* variables are
 * removed from their environment, so the verdict is about the file. */
#include "cli.h"
#include "cli_args.h"

#include "config.h"
#include "secrets.h"
#include "srvset.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK_OUT_MAX 4096 /* a daemon's verdict is a line or two */
#define CHECK_ENV_MAX 512

extern char **environ;

static const char *const config_daemons[] = {"wavemill-scheduler", "wavemill-worker",
                                             "wavemill-receiver", "wavemill-agent", "wavemill-api"};

/* The CLI's own keys: the common ones and secrets.* (see cli_config()). */
static struct wm_config *cli_config_new(char *err, size_t errlen)
{
    struct wm_config *cfg = wm_config_new();
    if (!cfg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (wm_secrets_declare(cfg, err, errlen) < 0) {
        wm_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* PATH of a program next to this one, or "" when not installed there. */
static void sibling(const char *prog, char *out, size_t outlen)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    if ((size_t)snprintf(out, outlen, "%s/%s", exe, prog) >= outlen || access(out, X_OK) != 0)
        out[0] = '\0';
}

/* The environment without WAVEMILL_* (bounded; the rest is dropped). */
static void env_without_wavemill(char **env, size_t cap)
{
    size_t n = 0;
    for (char **e = environ; *e && n + 1 < cap; e++)
        if (strncmp(*e, "WAVEMILL_", 9) != 0)
            env[n++] = *e;
    env[n] = NULL;
}

/* Runs PATH --config FILE --check; its output (stdout and stderr) into
 * out.  Returns its exit status, or -errno when it could not run. */
static int run_check(const char *path, const char *file, char *out, size_t outlen)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = {(char *)path, "--config", (char *)file, "--check", NULL};
    char *env[CHECK_ENV_MAX];
    env_without_wavemill(env, CHECK_ENV_MAX);
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while ((r = read(fds[0], out + got, outlen - 1 - got)) > 0 && got + 1 < outlen)
        got += (size_t)r;
    out[got] = '\0';
    close(fds[0]);
    if (rc != 0)
        return -rc;
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last line of a program's output, without its "prog: " prefix. */
static const char *verdict(char *out, const char *prog)
{
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    char *line = strrchr(out, '\n');
    line = line ? line + 1 : out;
    size_t p = strlen(prog);
    if (strncmp(line, prog, p) == 0 && line[p] == ':' && line[p + 1] == ' ')
        line += p + 2;
    return line;
}

static int config_check(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *pos[1];
    int npos = 0;
    int rc = cli_args_parse(ctx, argc, argv, 2, NULL, 0, pos, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error(ctx, "which file? (wavemill config check FILE)");
    char err[1024], path[PATH_MAX], out[CHECK_OUT_MAX];
    int failed = 0;
    struct wm_config *cfg = cli_config_new(err, sizeof(err));
    if (!cfg || wm_config_load_file(cfg, pos[0], err, sizeof(err)) < 0 ||
        wm_config_validate(cfg, err, sizeof(err)) < 0) {
        printf("%-20s FAILED: %s\n", "wavemill", err);
        failed++;
    } else {
        printf("%-20s ok\n", "wavemill");
    }
    wm_config_free(cfg);
    for (size_t i = 0; i < sizeof(config_daemons) / sizeof(config_daemons[0]); i++) {
        const char *prog = config_daemons[i];
        sibling(prog, path, sizeof(path));
        if (!*path) {
            printf("%-20s skipped: not installed next to this program\n", prog);
            continue;
        }
        rc = run_check(path, pos[0], out, sizeof(out));
        if (rc == 0) {
            printf("%-20s ok\n", prog);
        } else {
            printf("%-20s FAILED: %s\n", prog, rc < 0 ? strerror(-rc) : verdict(out, prog));
            failed++;
        }
    }
    if (failed)
        return cli_error(ctx, "%s: %d program(s) refuse it", pos[0], failed);
    return CLI_OK;
}

static int config_print(struct cli_ctx *ctx, bool reference)
{
    struct wm_config *cfg = reference ? NULL : cli_config(ctx);
    char err[512];
    if (reference) {
        struct wm_config *keys = cli_config_new(err, sizeof(err));
        if (!keys)
            return cli_error(ctx, "%s", err);
        wm_config_reference(keys, "wavemill", stdout);
        wm_config_free(keys);
        return CLI_OK;
    }
    if (!cfg)
        return CLI_ERR;
    static char buf[65536];
    wm_config_dump(cfg, buf, sizeof(buf));
    fputs(buf, stdout);
    return CLI_OK;
}

/* The per-server settings table (srvset.h), tab-separated, for the
 * configuration reference: key, values, default, reader, meaning. */
static int config_settings(void)
{
    static const char *const kinds[] = {"text",          "",   "port", "seconds", "HOST:PORT",
                                        "absolute path", "id", "JSON"};
    size_t n;
    const struct wm_srvset *all = wm_srvset_all(&n);
    for (size_t i = 0; i < n; i++) {
        const struct wm_srvset *s = &all[i];
        char def[256];
        if (s->def_from)
            snprintf(def, sizeof(def), "%s%sworker config %s", s->def, *s->def ? ", " : "",
                     s->def_from);
        else
            snprintf(def, sizeof(def), "%s", s->def);
        printf("%s\t%s\t%s\t%s\t%s\n", s->key,
               s->kind == WM_SRVSET_ENUM ? s->allowed : kinds[s->kind], def, s->reader, s->doc);
    }
    return CLI_OK;
}

int cli_config_cmd(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "config";
    const char *sub = argc >= 2 ? argv[1] : "";
    if (strcmp(sub, "check") == 0) {
        ctx->command = "config check";
        return config_check(ctx, argc, argv);
    }
    if (strcmp(sub, "print") == 0 || strcmp(sub, "reference") == 0) {
        ctx->command = strcmp(sub, "print") == 0 ? "config print" : "config reference";
        if (argc > 2)
            return cli_usage_error(ctx, "'%s' takes no arguments", ctx->command);
        return config_print(ctx, strcmp(sub, "reference") == 0);
    }
    if (strcmp(sub, "settings") == 0 && argc == 2)
        return config_settings();
    return cli_usage_error(
        ctx,
        "usage: wavemill config check FILE | config print | config reference | config settings");
}
