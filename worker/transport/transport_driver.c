/* driver_transport — the transport drivers "local" and "ssh": the task
 * handlers' view (driver.h) of the transport library (transport.h).
 *
 * ssh reaches the server as the inventory says (servers.source_host,
 * source_port, source_user) with the private key named by
 * servers.credential, read from the credential store under
 * secrets.master_key (or, without a credential, the file ssh.key_file),
 * and the host key pinned in ssh.known_hosts.  The key is written to a
 * 0600 temp file for the one command and removed right after.
 *
 * A command that exits non-zero fails the operation with its exit code and
 * stderr in the task error. */
#include "transport/transport_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "log.h"
#include "pg.h"
#include "secrets.h"
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

/* struct tp_session (driver_transport.h): an open transport for one
 * operation, and the temp key file it uses. */

static void tp_close(struct tp_session *s)
{
    transport_free(s->tp);
    if (s->keyfile[0])
        unlink(s->keyfile);
}

/* Writes the credential's value to a 0600 temp file. */
static int tp_key_from_store(struct task_ctx *t, struct wm_pg *db, const char *name,
                             struct tp_session *s)
{
    char err[256];
    const char *mk = wm_config_str(t->cfg, "secrets.master_key");
    struct wm_secrets *st = wm_secrets_open(db, mk && *mk ? mk : NULL, err, sizeof(err));
    wm_secret *v = NULL;
    int rc = st ? wm_secrets_get(st, name, &v, err, sizeof(err)) : -EIO;
    wm_secrets_close(st);
    if (rc < 0)
        return task_fail(t, "ssh: credential %s: %s", name, err);
    size_t len = 0;
    const char *key = wm_secret_reveal(v, &len);
    snprintf(s->keyfile, sizeof(s->keyfile), "/tmp/wm-sshkey.XXXXXX");
    int fd = mkstemp(s->keyfile);
    rc = fd < 0 ? -errno : 0;
    if (fd >= 0 && write(fd, key, len) != (ssize_t)len)
        rc = -EIO;
    if (fd >= 0)
        close(fd);
    wm_secret_free(v);
    if (rc < 0) {
        if (fd >= 0)
            unlink(s->keyfile);
        s->keyfile[0] = '\0';
        return task_fail(t, "ssh: cannot write a temp key file: %s", strerror(-rc));
    }
    return 0;
}

static int tp_open_ssh(struct task_ctx *t, struct tp_session *s)
{
    char err[512], sid[24];
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    struct wm_pg *db = wm_pg_new_conninfo(t->conninfo, err, sizeof(err));
    if (!db)
        return task_fail(t, "ssh: database: %s", err);
    const char *p[] = {sid};
    PGresult *r = wm_pg_query(db,
                              "SELECT source_host, source_port, source_user, credential"
                              " FROM servers WHERE id = $1",
                              1, p, err, sizeof(err));
    int rc = 0;
    if (!r || PQntuples(r) != 1)
        rc = task_fail(t, "ssh: server %s: %s", sid, r ? "not in the inventory" : err);
    else if (*PQgetvalue(r, 0, 3))
        rc = tp_key_from_store(t, db, PQgetvalue(r, 0, 3), s);
    if (rc == 0) {
        const char *user = PQgetvalue(r, 0, 2);
        struct transport_ssh_config c = {
            .host = PQgetvalue(r, 0, 0),
            .port = atoi(PQgetvalue(r, 0, 1)),
            .user = *user ? user : NULL,
            .key_file = s->keyfile[0] ? s->keyfile : wm_config_str(t->cfg, "ssh.key_file"),
            .known_hosts = wm_config_str(t->cfg, "ssh.known_hosts"),
            .connect_timeout_s = (int)(wm_config_int(t->cfg, "ssh.connect_timeout") / 1000),
        };
        if (!(s->tp = transport_ssh_new(&c, err, sizeof(err))))
            rc = task_fail(t, "ssh: %s", err);
    }
    PQclear(r);
    wm_pg_free(db);
    return rc;
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

int driver_server_setting(struct task_ctx *t, const char *key, char *out, size_t cap)
{
    char err[256], sid[24];
    out[0] = '\0';
    if (t->transport && t->transport->simulated)
        return 0;
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    struct wm_pg *db = wm_pg_new_conninfo(t->conninfo, err, sizeof(err));
    if (!db)
        return task_fail(t, "server settings: database: %s", err);
    const char *p[] = {sid, key};
    PGresult *r = wm_pg_query(db,
                              "SELECT coalesce((w.settings || s.settings)->>$2, '') FROM servers s"
                              " JOIN waves w ON w.id = s.wave_id WHERE s.id = $1",
                              2, p, err, sizeof(err));
    int rc = r ? 0 : task_fail(t, "server settings: %s", err);
    if (r && PQntuples(r) == 1 && snprintf(out, cap, "%s", PQgetvalue(r, 0, 0)) >= (int)cap)
        rc = task_fail(t, "server setting %s is too long", key);
    PQclear(r);
    wm_pg_free(db);
    return rc < 0 ? rc : out[0] != '\0';
}
