/* transport_driver — the transport drivers "local" and "ssh": the task
 * handlers' view (driver.h) of the transport library (transport.h).
 *
 * ssh reaches the server as the task's server row says (source_host,
 * source_port, source_user, loaded once per task by task_load.c) with the
 * private key named by servers.credential, decrypted once per task from the
 * credential store under secrets.master_key (or, without a credential, the
 * file ssh.key_file), and the host key pinned in ssh.known_hosts.  The key
 * is written to a 0600 temp file for the one command and removed right
 * after.  No PostgreSQL connection of its own.
 *
 * A command that exits non-zero fails the operation with its exit code and
 * stderr in the task error. */
#include "transport/transport_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "task.h"
#include "transport/transport.h"
#include "transport/transport_ssh.h"

static const struct wm_config_key tp_keys[] = {
    {"ssh.known_hosts", WM_CFG_STRING, "", 0, 0, false,
     "the factory's known_hosts file: every source's host key pinned there"},
    {"ssh.key_file", WM_CFG_STRING, "", 0, 0, false,
     "private key for servers without a credential name"},
    {"ssh.connect_timeout", WM_CFG_DURATION, "10s", 1000, 600000, false, "ssh connect timeout"},
    {"ssh.command_timeout", WM_CFG_DURATION, "120s", 1000, 3600000, false,
     "longest a command or a copy to a source may take"},
    {"secrets.master_key", WM_CFG_STRING, "", 0, 0, false,
     "file holding the 32-byte master key of the credential store (mode 0600)"},
};

int transport_driver_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, tp_keys, sizeof(tp_keys) / sizeof(tp_keys[0]), err, errlen);
}

/* struct tp_session (transport_driver.h): an open transport for one
 * operation, and the in-memory key it uses. */

static void tp_close(struct tp_session *s)
{
    transport_free(s->tp);
    if (s->keyfd > 2)
        close(s->keyfd);
    s->keyfd = 0;
}

/* The server's credential (decrypted once per task) in an anonymous memory
 * file (memfd, 0600, close-on-exec) that ssh opens through /proc
 * (transport_ssh.h): nothing reaches a file system, so nothing is left
 * behind when the worker is killed. */
static int tp_key_memfd(struct task_ctx *t, struct tp_session *s)
{
    const char *key;
    size_t len;
    if (task_credential(t, &key, &len) < 0)
        return -EIO;
    if (!key)
        return 0;
    int fd = memfd_create("wm-sshkey", MFD_CLOEXEC);
    int rc = fd < 0 ? -errno : 0;
    if (rc == 0 && (fchmod(fd, 0600) < 0 || write(fd, key, len) != (ssize_t)len))
        rc = -EIO;
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        return task_fail(t, "ssh: cannot hold the key in memory: %s", strerror(-rc));
    }
    s->keyfd = fd;
    return 0;
}

/* ssh as the task's server row says (loaded once per task). */
static int tp_open_ssh(struct task_ctx *t, struct tp_session *s)
{
    char err[512];
    if (task_server_load(t) < 0 || tp_key_memfd(t, s) < 0)
        return -EIO;
    const char *user = task_server_str(t, TS_SOURCE_USER);
    struct transport_ssh_config c = {
        .host = task_server_str(t, TS_SOURCE_HOST),
        .port = atoi(task_server_str(t, TS_SOURCE_PORT)),
        .user = *user ? user : NULL,
        .key_file = wm_config_str(t->cfg, "ssh.key_file"),
        .key_fd = s->keyfd,
        .known_hosts = wm_config_str(t->cfg, "ssh.known_hosts"),
        .connect_timeout_s = (int)(wm_config_int(t->cfg, "ssh.connect_timeout") / 1000),
    };
    if (!(s->tp = transport_ssh_new(&c, err, sizeof(err))))
        return task_fail(t, "ssh: %s", err);
    return 0;
}

static int tp_open(struct task_ctx *t, bool ssh, struct tp_session *s)
{
    char err[256];
    memset(s, 0, sizeof(*s));
    if (ssh)
        return tp_open_ssh(t, s);
    if (!(s->tp = transport_local_new(err, sizeof(err))))
        return task_fail(t, "local transport: %s", err);
    return 0;
}

int transport_driver_open(struct task_ctx *t, struct tp_session *s)
{
    return tp_open(t, t->transport && strcmp(t->transport->name, "ssh") == 0, s);
}

void transport_driver_close(struct tp_session *s)
{
    tp_close(s);
}

static int tp_exec(struct task_ctx *t, bool ssh, const char *cmd, char *out, size_t outlen)
{
    struct tp_session s;
    if (tp_open(t, ssh, &s) < 0) {
        tp_close(&s);
        return -EIO;
    }
    struct transport_result *res = calloc(1, sizeof(*res));
    char err[512];
    int to = (int)wm_config_int(t->cfg, "ssh.command_timeout");
    int rc = res ? transport_run(s.tp, cmd, to, out, outlen, res, err, sizeof(err)) : -ENOMEM;
    if (rc < 0)
        task_fail(t, "%s: %s", transport_name(s.tp), res ? err : "out of memory");
    else if (res->exit_code != 0)
        rc = task_fail(t, "%s: command exited %d: %.300s", transport_name(s.tp), res->exit_code,
                       res->errout);
    free(res);
    tp_close(&s);
    return rc;
}

static int tp_push(struct task_ctx *t, bool ssh, const char *local, const char *remote)
{
    struct tp_session s;
    if (tp_open(t, ssh, &s) < 0) {
        tp_close(&s);
        return -EIO;
    }
    char err[512];
    int to = (int)wm_config_int(t->cfg, "ssh.command_timeout");
    int rc = transport_push(s.tp, local, remote, 0600, to, err, sizeof(err));
    if (rc < 0)
        task_fail(t, "%s: %s", transport_name(s.tp), err);
    tp_close(&s);
    return rc;
}

static int ssh_exec(struct task_ctx *t, const char *cmd, char *out, size_t outlen)
{
    return tp_exec(t, true, cmd, out, outlen);
}

static int ssh_push(struct task_ctx *t, const char *local, const char *remote)
{
    return tp_push(t, true, local, remote);
}

static int local_exec(struct task_ctx *t, const char *cmd, char *out, size_t outlen)
{
    return tp_exec(t, false, cmd, out, outlen);
}

static int local_push(struct task_ctx *t, const char *local, const char *remote)
{
    return tp_push(t, false, local, remote);
}

const struct transport_driver transport_ssh_driver = {"ssh", false, ssh_exec, ssh_push};
const struct transport_driver transport_local_driver = {"local", false, local_exec, local_push};
