/* Shell-fixture helpers of the orch tests; see orch_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orch_fixture.h"

int fixture_lock(const char *path, int wait_s)
{
    /* the descriptor stays open: the lock ends with the process */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "cannot open %s: %m\n", path);
        return -1;
    }
    for (int i = 0; i < wait_s * 10; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        usleep(100 * 1000);
    }
    fprintf(stderr, "another test held %s for %d s\n", path, wait_s);
    close(fd);
    return -1;
}

int fixture_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void fixture_capture(char *buf, size_t cap, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    buf[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (fgets(buf, (int)cap, p))
        buf[strcspn(buf, "\n")] = '\0';
    pclose(p);
}

void fixture_env_read(struct fixture_env *env, const char *dir)
{
    char path[512], line[1100];
    snprintf(path, sizeof(path), "%s/fixture.env", dir);
    FILE *f = fopen(path, "r");
    while (f && env->n < 32 && fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        eq[1 + strcspn(eq + 1, "\n")] = '\0';
        snprintf(env->kv[env->n][0], sizeof(env->kv[0][0]), "%.200s", line);
        snprintf(env->kv[env->n][1], sizeof(env->kv[0][1]), "%.500s", eq + 1);
        env->n++;
    }
    if (f)
        fclose(f);
}

const char *fixture_env_get(const struct fixture_env *env, const char *key)
{
    for (int i = 0; i < env->n; i++)
        if (strcmp(env->kv[i][0], key) == 0)
            return env->kv[i][1];
    fail_msg("fixture has no %s", key);
    return "";
}

struct task_ctx *fixture_task_new(const struct wm_config *cfg, const char *conninfo,
                                  int64_t task_id, int64_t server_id, const char *kind)
{
    struct task_ctx *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->msg.task_id = task_id;
    t->msg.attempt = 1;
    t->msg.server_id = server_id;
    t->msg.kind = strdup(kind);
    t->cfg = cfg;
    t->worker_id = "test-worker";
    t->conninfo = conninfo;
    return t;
}

void fixture_task_param(struct task_ctx *t, const char *key, const char *value)
{
    struct wm_task_msg *m = &t->msg;
    m->params = realloc(m->params, (m->nparams + 1) * sizeof(*m->params));
    assert_non_null(m->params);
    m->params[m->nparams].key = strdup(key);
    m->params[m->nparams].value = strdup(value);
    m->nparams++;
}
