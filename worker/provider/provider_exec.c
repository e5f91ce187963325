/* provider_exec — runs an operator script for a provider step (contract in
 * provider_exec.h and docs/provider-exec.md).
 *
 * posix_spawn rather than fork: the worker is multi-threaded, and a forked
 * child of a threaded process may only call async-signal-safe functions.
 * The child gets its own process group so a timeout can kill everything the
 * script started, and its signal mask/dispositions reset so a worker that
 * blocks or ignores signals does not hand that on. */
#include "provider/provider_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "clock.h"
#include "jsonr.h"
#include "log.h"
#include "task.h"

extern char **environ;

#define EXEC_KILL_GRACE_MS 2000
/* After the script exits, how long to wait for the pipes' EOF when a
 * leftover process still holds them. */
#define EXEC_DRAIN_MS 300

struct capture {
    char *out;
    size_t nout;
    bool out_overflow;
    char errbuf[2 * PROVIDER_EXEC_STDERR_KEEP];
    size_t nerr;
};

struct child {
    pid_t pid;
    int fd[2]; /* stdout, stderr read ends; -1 once closed */
    int status;
    bool exited, timed_out, cancelled, status_lost;
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* ------------------------------------------------------------ token */

void provider_exec_client_token(int64_t task_id, const char *server, const char *step, char *out,
                                size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char buf[1024];
    /* NUL separators keep ("a","bc") and ("ab","c") apart */
    int n = snprintf(buf, sizeof(buf), "wavemill-exec-token%c%lld%c%s%c%s", 0, (long long)task_id,
                     0, nz(server), 0, nz(step));
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;

    if (!outlen)
        return;
    if (!EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) || mdlen < 16) {
        snprintf(out, outlen, "wm-%lld", (long long)task_id); /* still stable */
        return;
    }
    char hex[40];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, outlen, "wm-%s", hex);
}

/* ------------------------------------------------------------ environment */

static int env_add(char **env, size_t *n, const char *name, const char *value)
{
    if (asprintf(&env[*n], "%s=%s", name, nz(value)) < 0) {
        env[*n] = NULL;
        return -ENOMEM;
    }
    (*n)++;
    return 0;
}

static void env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* What a script may inherit from the worker: the basics of a login shell.
 * Everything else — WAVEMILL_* (the PostgreSQL conninfo, the master key's
 * path), AWS_* keys, the worker's own WM_* — stays in the worker. */
static bool env_allowed(const char *kv)
{
    static const char *const names[] = {"PATH", "HOME",     "USER", "LOGNAME", "SHELL",
                                        "LANG", "LANGUAGE", "TZ",   "TMPDIR",  "TERM"};
    size_t n = strcspn(kv, "=");
    if (n > 3 && strncmp(kv, "LC_", 3) == 0)
        return true;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && strncmp(kv, names[i], n) == 0)
            return true;
    return false;
}

/* The allow-listed part of the worker's environment, plus the step's
 * variables. */
static char **env_build(const struct provider_exec_req *r, const char *token)
{
    char id[24], att[16];
    size_t n = 0, total = 0;

    while (environ && environ[total])
        total++;
    char **env = calloc(total + 20, sizeof(*env));
    if (!env)
        return NULL;
    for (size_t i = 0; i < total; i++)
        if (env_allowed(environ[i]) && !(env[n++] = strdup(environ[i])))
            goto nomem;
    snprintf(id, sizeof(id), "%lld", (long long)r->task_id);
    snprintf(att, sizeof(att), "%d", (int)r->attempt);
    const char *vars[][2] = {
        {"WM_STEP", r->step},
        {"WM_WAVE", r->wave},
        {"WM_SERVER", r->server},
        {"WM_SERVER_FQDN", r->server_fqdn},
        {"WM_INSTANCE_TYPE", r->instance_type},
        {"WM_SUBNET_ID", r->subnet_id},
        {"WM_SECURITY_GROUP_IDS", r->security_group_ids},
        {"WM_TEST_SECURITY_GROUP_IDS", r->test_security_group_ids},
        {"WM_TAGS", r->tags_json ? r->tags_json : "{}"},
        {"WM_TARGET_VOLUMES", r->target_volumes_json ? r->target_volumes_json : "[]"},
        {"WM_INSTANCE_ID", r->instance_id},
        {"WM_TASK_ID", id},
        {"WM_ATTEMPT", att},
        {"WM_CLIENT_TOKEN", token},
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (env_add(env, &n, vars[i][0], vars[i][1]) < 0)
            goto nomem;
    return env;
nomem:
    env_free(env);
    return NULL;
}

/* ------------------------------------------------------------ spawn */

static int spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at, int out[2],
                       int errp[2])
{
    sigset_t none, all;

    sigemptyset(&none);
    sigfillset(&all);
    if (posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0) ||
        posix_spawn_file_actions_adddup2(fa, out[1], 1) ||
        posix_spawn_file_actions_adddup2(fa, errp[1], 2) ||
        posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                         POSIX_SPAWN_SETSIGDEF) ||
        posix_spawnattr_setpgroup(at, 0) || posix_spawnattr_setsigmask(at, &none) ||
        posix_spawnattr_setsigdefault(at, &all))
        return -ENOMEM;
    return 0;
}

/* Starts the script with stdout/stderr on pipes.  The pipes are O_CLOEXEC
 * so scripts started concurrently by other slots do not inherit them. */
static int spawn_script(const struct provider_exec_req *r, char **env, struct child *c)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1}, rc;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char *argv[] = {(char *)r->script, (char *)nz(r->step), NULL};

    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = -errno;
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    rc = spawn_setup(&fa, &at, out, errp);
    if (!rc)
        rc = -posix_spawn(&c->pid, r->script, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
out:
    if (out[1] >= 0)
        close(out[1]);
    if (errp[1] >= 0)
        close(errp[1]);
    c->fd[0] = out[0];
    c->fd[1] = errp[0];
    if (rc) {
        for (int i = 0; i < 2; i++)
            if (c->fd[i] >= 0)
                close(c->fd[i]);
        c->fd[0] = c->fd[1] = -1;
    }
    return rc;
}

/* ------------------------------------------------------------ collect */

static void capture_err(struct capture *cap, const char *b, size_t n)
{
    size_t keep = PROVIDER_EXEC_STDERR_KEEP;

    if (n > keep) { /* only the tail matters */
        b += n - keep;
        n = keep;
    }
    if (cap->nerr + n > sizeof(cap->errbuf)) {
        size_t drop = cap->nerr + n - keep;
        if (drop > cap->nerr)
            drop = cap->nerr;
        memmove(cap->errbuf, cap->errbuf + drop, cap->nerr - drop);
        cap->nerr -= drop;
    }
    memcpy(cap->errbuf + cap->nerr, b, n);
    cap->nerr += n;
}

static void capture_out(struct capture *cap, const char *b, size_t n)
{
    if (cap->out_overflow || cap->nout + n > PROVIDER_EXEC_MAX_STDOUT) {
        cap->out_overflow = true; /* keep draining so the script does not block */
        return;
    }
    char *o = realloc(cap->out, cap->nout + n + 1);
    if (!o) {
        cap->out_overflow = true;
        return;
    }
    cap->out = o;
    memcpy(cap->out + cap->nout, b, n);
    cap->nout += n;
    cap->out[cap->nout] = '\0';
}

/* Reads whatever is ready on the pipes; closes a pipe at EOF. */
static void read_ready(struct child *c, struct capture *cap, int timeout_ms)
{
    struct pollfd pfd[2];
    char buf[16384];
    int n = 0, map[2];

    for (int i = 0; i < 2; i++)
        if (c->fd[i] >= 0) {
            pfd[n] = (struct pollfd){.fd = c->fd[i], .events = POLLIN};
            map[n++] = i;
        }
    if (poll(pfd, (nfds_t)n, timeout_ms) <= 0)
        return;
    for (int k = 0; k < n; k++) {
        if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t got = read(pfd[k].fd, buf, sizeof(buf));
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            close(c->fd[map[k]]);
            c->fd[map[k]] = -1;
        } else if (map[k] == 0)
            capture_out(cap, buf, (size_t)got);
        else
            capture_err(cap, buf, (size_t)got);
    }
}

/* True once the script has exited; leaves it a zombie (WNOWAIT) so its pid
 * and process group id cannot be reused before we kill the group. */
static bool child_exited(struct child *c)
{
    siginfo_t si = {0};

    if (c->exited)
        return true;
    int rc = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    if (rc == 0 && si.si_pid == c->pid)
        c->exited = true;
    else if (rc < 0 && errno == ECHILD) /* SIGCHLD ignored: reaped already, status lost */
        c->exited = c->status_lost = true;
    return c->exited;
}

/* Signals the group, waits up to grace_ms for the script to exit. */
static void kill_group(struct child *c, int sig, int grace_ms)
{
    int64_t until = wm_mono_ms() + grace_ms;

    kill(-c->pid, sig);
    while (!child_exited(c) && wm_mono_ms() < until)
        usleep(10 * 1000);
}

/* Runs the read loop until the script is done (or the deadline/cancel),
 * then kills what is left of its process group and reaps it. */
static void collect(struct child *c, struct capture *cap, int64_t deadline,
                    const atomic_int *cancel)
{
    int64_t exited_at = 0;

    while (c->fd[0] >= 0 || c->fd[1] >= 0 || !child_exited(c)) {
        int64_t now = wm_mono_ms();
        if (now >= deadline) {
            c->timed_out = true;
            break;
        }
        if (cancel && atomic_load(cancel)) {
            c->cancelled = true;
            break;
        }
        if (child_exited(c) && !exited_at)
            exited_at = now;
        if (exited_at && now - exited_at > EXEC_DRAIN_MS)
            break; /* a leftover process holds the pipes */
        int wait = deadline - now < 100 ? (int)(deadline - now) : 100;
        if (c->fd[0] < 0 && c->fd[1] < 0)
            usleep((useconds_t)(wait > 10 ? 10 : wait) * 1000);
        else
            read_ready(c, cap, wait);
    }
    if (!child_exited(c)) {
        kill_group(c, SIGTERM, EXEC_KILL_GRACE_MS);
        if (!child_exited(c))
            kill_group(c, SIGKILL, EXEC_KILL_GRACE_MS);
    }
    kill(-c->pid, SIGKILL); /* leftovers in the group; the leader is a zombie */
    while (!c->status_lost && waitpid(c->pid, &c->status, 0) < 0) {
        if (errno != EINTR) {
            c->status_lost = true;
            break;
        }
    }
    for (int i = 0; i < 2; i++)
        if (c->fd[i] >= 0) {
            close(c->fd[i]);
            c->fd[i] = -1;
        }
}

/* ------------------------------------------------------------ result */

/* The kept stderr tail as one redacted line. */
static void stderr_excerpt(const struct capture *cap, char *out, size_t outlen)
{
    char tail[PROVIDER_EXEC_STDERR_KEEP + 1];
    size_t n = cap->nerr > PROVIDER_EXEC_STDERR_KEEP ? PROVIDER_EXEC_STDERR_KEEP : cap->nerr;

    memcpy(tail, cap->errbuf + cap->nerr - n, n);
    while (n && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
        n--;
    tail[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (tail[i] == '\0')
            tail[i] = ' ';
    if (!n)
        snprintf(out, outlen, "(no stderr)");
    else
        wm_redact(tail, out, outlen);
}

static int exit_error(const struct provider_exec_req *r, const struct child *c,
                      const struct capture *cap, int timeout_ms, char *err, size_t errlen)
{
    char ex[600], what[64];

    stderr_excerpt(cap, ex, sizeof(ex));
    if (c->timed_out)
        snprintf(what, sizeof(what), "timed out after %d ms (process group killed)", timeout_ms);
    else if (c->cancelled)
        snprintf(what, sizeof(what), "was cancelled (process group killed)");
    else if (c->status_lost)
        snprintf(what, sizeof(what), "ended with an unknown status (SIGCHLD is ignored)");
    else if (WIFSIGNALED(c->status))
        snprintf(what, sizeof(what), "was killed by signal %d", WTERMSIG(c->status));
    else
        snprintf(what, sizeof(what), "exited with status %d", WEXITSTATUS(c->status));
    snprintf(err, errlen, "exec provider: script %s step %s %s: %s", r->script, nz(r->step), what,
             ex);
    return c->timed_out ? -ETIMEDOUT : c->cancelled ? -ECANCELED : -EIO;
}

static int parse_output(const struct provider_exec_req *r, const struct capture *cap,
                        struct wm_jsonr **out, char *err, size_t errlen)
{
    char jerr[160];
    struct wm_jsonr_limits lim = {.max_len = PROVIDER_EXEC_MAX_STDOUT};

    if (cap->out_overflow) {
        snprintf(err, errlen, "exec provider: script %s step %s printed more than %d bytes",
                 r->script, nz(r->step), PROVIDER_EXEC_MAX_STDOUT);
        return -EPROTO;
    }
    struct wm_jsonr *d = wm_jsonr_parse(cap->out ? cap->out : "", cap->nout, &lim, NULL, jerr,
                                        sizeof(jerr));
    if (d && wm_jsonr_type(wm_jsonr_root(d)) != WM_JSONR_OBJECT) {
        snprintf(jerr, sizeof(jerr), "a JSON %s, not an object",
                 wm_jsonr_type_name(wm_jsonr_type(wm_jsonr_root(d))));
        wm_jsonr_free(d);
        d = NULL;
    }
    if (!d) {
        char ex[300];
        stderr_excerpt(cap, ex, sizeof(ex));
        snprintf(err, errlen,
                 "exec provider: script %s step %s must print one JSON object on stdout: %s"
                 " (stderr: %s)",
                 r->script, nz(r->step), jerr, ex);
        return -EPROTO;
    }
    *out = d;
    return 0;
}

/* As provider_exec_run, with an optional cancel flag polled while the
 * script runs (the task's stop flag). */
static int exec_run(const struct provider_exec_req *r, const atomic_int *cancel,
                    struct wm_jsonr **out, char *err, size_t errlen)
{
    char token[PROVIDER_EXEC_TOKEN_LEN];
    struct child c = {.fd = {-1, -1}};
    struct capture cap = {0};
    int timeout = r->timeout_ms > 0 ? r->timeout_ms : PROVIDER_EXEC_DEFAULT_TIMEOUT_MS;
    int64_t t0 = wm_mono_ms();

    *out = NULL;
    if (!r->script || !*r->script) {
        snprintf(err, errlen, "exec provider: no script configured for step %s", nz(r->step));
        return -EINVAL;
    }
    provider_exec_client_token(r->task_id, r->server, r->step, token, sizeof(token));
    char **env = env_build(r, token);
    int rc = env ? spawn_script(r, env, &c) : -ENOMEM;
    env_free(env);
    if (rc) {
        snprintf(err, errlen, "exec provider: cannot start script %s for step %s: %s", r->script,
                 nz(r->step), strerror(-rc));
        return rc;
    }
    collect(&c, &cap, t0 + timeout, cancel);
    if (c.timed_out || c.cancelled || c.status_lost || !WIFEXITED(c.status) ||
        WEXITSTATUS(c.status) != 0)
        rc = exit_error(r, &c, &cap, timeout, err, errlen);
    else
        rc = parse_output(r, &cap, out, err, errlen);
    wm_log(rc ? WM_LOG_WARN : WM_LOG_INFO, rc ? "exec.step_failed" : "exec.step_done",
           "script=%s step=%s server=%s task=%lld ms=%lld rc=%d", r->script, nz(r->step),
           nz(r->server), (long long)r->task_id, (long long)(wm_mono_ms() - t0), rc);
    free(cap.out);
    return rc;
}

int provider_exec_run(const struct provider_exec_req *r, struct wm_jsonr **out, char *err,
                      size_t errlen)
{
    return exec_run(r, NULL, out, err, errlen);
}

/* ------------------------------------------------------------ driver */

static int exec_task_step(struct task_ctx *t, const char *step, struct wm_jsonr **out)
{
    const char *to = task_param(t, "exec_timeout_s");
    struct provider_exec_req r = {
        .script = task_param(t, "exec_script"),
        .step = step,
        .wave = t->msg.wave,
        .server = t->msg.server,
        .server_fqdn = task_param(t, "fqdn"),
        .instance_type = task_param(t, "instance_type"),
        .subnet_id = task_param(t, "subnet_id"),
        .security_group_ids = task_param(t, "security_group_ids"),
        .test_security_group_ids = task_param(t, "test_security_group_ids"),
        .tags_json = task_param(t, "tags"),
        .target_volumes_json = task_param(t, "target_volumes"),
        .instance_id = task_param(t, "instance_id"),
        .task_id = t->msg.task_id,
        .attempt = t->msg.attempt,
        .timeout_ms = to ? atoi(to) * 1000 : 0,
    };
    char err[480];
    int rc = exec_run(&r, &t->stop, out, err, sizeof(err));
    if (rc == -ECANCELED)
        return rc;
    if (rc)
        task_fail(t, "%s", err);
    return rc;
}

/* Steps whose only result is "done". */
static int exec_simple(struct task_ctx *t, const char *step)
{
    struct wm_jsonr *d = NULL;
    int rc = exec_task_step(t, step, &d);
    wm_jsonr_free(d);
    return rc;
}

static int exec_check_target(struct task_ctx *t)
{
    return exec_simple(t, "check_target");
}

static int exec_launch(struct task_ctx *t, enum launch_kind kind, char *id, size_t idlen)
{
    const char *step = kind == LAUNCH_TEST ? "launch_test" : "launch_cutover";
    struct wm_jsonr *d = NULL;
    int rc = exec_task_step(t, step, &d);

    if (rc)
        return rc;
    const char *iid = wm_jsonr_str(wm_jsonr_get(wm_jsonr_root(d), "instance_id"));
    if (!iid || !*iid || strlen(iid) >= idlen)
        rc = task_fail(t, "exec provider: script %s step %s printed no usable \"instance_id\"",
                       nz(task_param(t, "exec_script")), step);
    else
        snprintf(id, idlen, "%s", iid);
    wm_jsonr_free(d);
    return rc;
}

static int exec_check_instance(struct task_ctx *t, enum launch_kind kind)
{
    return exec_simple(t, kind == LAUNCH_TEST ? "check_test" : "check_cutover");
}

static int exec_switch_network(struct task_ctx *t)
{
    return exec_simple(t, "post_cutover");
}

static int exec_revert_network(struct task_ctx *t)
{
    return exec_simple(t, "revert_network");
}

static int exec_cmdb_update(struct task_ctx *t)
{
    return exec_simple(t, "cmdb_update");
}

static int exec_terminate(struct task_ctx *t, enum launch_kind kind)
{
    return exec_simple(t, kind == LAUNCH_TEST ? "terminate_test" : "terminate_cutover");
}

const struct provider_driver provider_exec_driver = {
    .name = "exec",
    .simulated = false,
    .check_target = exec_check_target,
    .launch = exec_launch,
    .check_instance = exec_check_instance,
    .switch_network = exec_switch_network,
    .revert_network = exec_revert_network,
    .cmdb_update = exec_cmdb_update,
    .terminate = exec_terminate,
};
