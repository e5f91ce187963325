/* replication — the "wavemill" replication driver (see replication.h).
 *
 * The worker never touches disk bytes (docs/architecture.md, principle 3): it talks to
 * the source only through the task's transport (install, start, stop) and
 * to the resident agent's mTLS control port (sync, verify).  Every fact the
 * driver needs comes from the task context (the server, its settings and
 * disks, loaded once per task on the task's one connection, task_load.c). */
#include "replication/replication.h"
#include "replication/agent_identity.h"
#include "replication/receiver_pool.h"
#include "replication/replication_ebs.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "clock.h"
#include "config.h"
#include "json.h"
#include "jsonr.h"
#include "log.h"
#include "pg.h"
#include "proto.h"
#include "repl_client.h"
#include "task.h"

#define RP_MAX_DISKS 16
#define RP_OUT 2048
#define RP_PING_MS 10000     /* a freshly started agent must answer within this */
#define RP_DB_EVERY_MS 2000  /* disks progress rows at most this often */
#define RP_DIAL_TRIES 5      /* control connection attempts before failing */

static const struct wm_config_key replication_keys[] = {
    {"repl.receiver", WM_CFG_STRING, "", 0, 0, false,
     "receiver HOST:PORT as the source servers reach it (servers.settings receiver overrides)"},
    {"repl.receivers", WM_CFG_STRING, "", 0, 0, false,
     "a pool of receivers HOST:PORT,HOST:PORT: each disk goes to the least-loaded with room and "
     "stays there (disks.receiver); replaces repl.receiver"},
    {"repl.receiver_max_disks", WM_CFG_INT, "0", 0, 1 << 30, false,
     "disks one receiver of the pool takes at most (0 = no limit)"},
    {"repl.receiver_wait", WM_CFG_DURATION, "1h", 1000, 7 * 24 * 3600000LL, false,
     "how long a sync waits for its receiver to come back, or for one with room, before the "
     "attempt fails"},
    {"repl.agent_bin", WM_CFG_STRING, "", 0, 0, false,
     "the wavemill-agent to install (default: next to this program)"},
    {"repl.agent_tls_dir", WM_CFG_STRING, "", 0, 0, false,
     "certificate folder pushed to the sources (wavemill pki issue --role agent)"},
    {"repl.pki_dir", WM_CFG_STRING, "", 0, 0, false,
     "the factory CA's folder: each source then gets its own agent certificate, bound to its "
     "volumes, renewed by agent_install and revoked by decommission (instead of "
     "repl.agent_tls_dir)"},
    {"repl.worker_tls_dir", WM_CFG_STRING, "", 0, 0, false,
     "this worker's certificate folder (role worker) for the agents' control port"},
    {"repl.agent_dir", WM_CFG_STRING, "/opt/wavemill/agent", 0, 0, false,
     "the agent's folder on a source (servers.settings agent_dir overrides)"},
    {"repl.agent_space", WM_CFG_SIZE, "64M", 0, 0, false,
     "free space the agent's folder on a source needs besides the digest maps (prereq_check)"},
    {"repl.agent_port", WM_CFG_INT, "7480", 1, 65535, false,
     "the resident agent's control port (servers.settings agent_port overrides)"},
    {"repl.streams", WM_CFG_INT, "1", 1, PROTO_MAX_RANGES, false, "parallel streams per disk"},
    {"repl.zstd_level", WM_CFG_INT, "1", 1, 19, false, "compression level of the blocks"},
    {"repl.bwlimit", WM_CFG_SIZE, "0", 0, 0, false, "bytes/s per disk sync, 0 = none"},
    {"repl.verify_lag_blocks", WM_CFG_INT, "256", 0, 1 << 30, false,
     "verify_replication of a live source passes with at most this many blocks changed since the "
     "last sync"},
    {"repl.io_timeout", WM_CFG_DURATION, "120s", 1000, 3600000, false,
     "longest silence of an agent's control connection before the attempt fails"},
};

int replication_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    int rc = wm_config_declare(cfg, replication_keys,
                               sizeof(replication_keys) / sizeof(replication_keys[0]), err, errlen);
    return rc < 0 ? rc : replication_ebs_declare(cfg, err, errlen);
}

/* ------------------------------------------------------------ inventory */

struct rp_disk {
    char id[24];
    char path[1024];
    char volume[PROTO_NAME_MAX];
    int64_t size;
    char receiver[256]; /* assigned (disks.receiver), "" = not yet */
};

/* What the driver knows of one server, from PostgreSQL and the config. */
struct rp_server {
    char name[PROTO_NAME_MAX];
    char agent_dir[512];
    char agent_addr[300]; /* HOST:PORT the agent listens on and workers dial */
    char receiver[256];
    bool receiver_fixed; /* servers.settings names it: no pool */
    int ndisks;
    struct rp_disk disks[RP_MAX_DISKS];
};

static const char *cfg_str(const struct task_ctx *t, const char *key)
{
    const char *v = wm_config_str(t->cfg, key);
    return v ? v : "";
}

/* The server as the task context has it (task_load.c): servers.settings
 * overrides (agent_host, agent_port, agent_dir, receiver) over the config. */
static void rp_fill_server(struct task_ctx *t, struct rp_server *s)
{
    const char *host = task_setting(t, "agent_host"), *port = task_setting(t, "agent_port");
    const char *dir = task_setting(t, "agent_dir"), *rx = task_setting(t, "receiver");
    char port_def[16];
    if (!host)
        host = task_server_str(t, TS_SOURCE_HOST);
    snprintf(port_def, sizeof(port_def), "%lld", (long long)wm_config_int(t->cfg, "repl.agent_port"));
    snprintf(s->name, sizeof(s->name), "%s", task_server_str(t, TS_NAME));
    snprintf(s->agent_addr, sizeof(s->agent_addr), strchr(host, ':') ? "[%s]:%s" : "%s:%s",
             *host ? host : "127.0.0.1", port ? port : port_def);
    snprintf(s->agent_dir, sizeof(s->agent_dir), "%s", dir ? dir : cfg_str(t, "repl.agent_dir"));
    snprintf(s->receiver, sizeof(s->receiver), "%s", rx ? rx : cfg_str(t, "repl.receiver"));
    s->receiver_fixed = rx != NULL;
}

/* Fills s->disks from the task context; a disk without a target volume
 * gets <server>-disk<N>, written back so the inventory names the volume the
 * data lives in. */
static int rp_fill_disks(struct task_ctx *t, struct rp_server *s)
{
    char err[256];
    int n = 0, rc = task_disks(t, &n);
    if (rc < 0)
        return rc;
    if (n > RP_MAX_DISKS)
        return task_fail(t, "replication: %s has more than %d disks", s->name, RP_MAX_DISKS);
    for (int i = 0; i < n && rc == 0; i++) {
        struct rp_disk *d = &s->disks[s->ndisks++];
        snprintf(d->id, sizeof(d->id), "%s", task_disk_str(t, i, 0));
        snprintf(d->path, sizeof(d->path), "%s", task_disk_str(t, i, 1));
        const char *vol = task_disk_str(t, i, 2);
        if (*vol)
            snprintf(d->volume, sizeof(d->volume), "%s", vol);
        else if (snprintf(d->volume, sizeof(d->volume), "%.100s-disk%d", task_server_str(t, TS_NAME),
                          i) >= (int)sizeof(d->volume))
            d->volume[0] = '\0';
        d->size = task_disk_size(t, i);
        snprintf(d->receiver, sizeof(d->receiver), "%s", task_disk_str(t, i, 4));
        if (!proto_volume_valid(d->volume))
            rc = task_fail(t, "replication: volume name '%s' of %s is not usable", d->volume,
                           d->path);
        const char *up[] = {d->id, d->volume};
        if (rc == 0 && !*vol &&
            wm_pg_exec(t->db, "UPDATE disks SET target_volume = $2 WHERE id = $1", 2, up, NULL, err,
                       sizeof(err)) < 0)
            rc = task_fail(t, "replication: naming the volume of %s: %s", d->path, err);
    }
    if (rc == 0 && s->ndisks == 0)
        rc = task_fail(t, "replication: server %s has no disks in the inventory", s->name);
    return rc;
}

/* The server (and its disks if want_disks) from the task context; returns
 * the task's one connection (borrowed: never freed here) or NULL after
 * task_fail. */
static struct wm_pg *rp_open(struct task_ctx *t, struct rp_server *s, bool want_disks)
{
    memset(s, 0, sizeof(*s));
    if (task_server_load(t) < 0)
        return NULL;
    rp_fill_server(t, s);
    if (want_disks && rp_fill_disks(t, s) < 0)
        return NULL;
    return t->db;
}

/* A disk's digest map in the agent's state folder, as the replicator
 * sizes it (the agent's default block size: the driver asks for none). */
static uint64_t rp_map_bytes(int64_t size)
{
    return size > 0 ? repl_client_map_bytes((uint64_t)size, 0) : 0;
}

int replication_layout_get(struct task_ctx *t, struct replication_layout *l)
{
    struct rp_server *s = calloc(1, sizeof(*s));
    if (!s)
        return task_fail(t, "replication: out of memory");
    if (!rp_open(t, s, true)) {
        free(s);
        return -EIO;
    }
    memset(l, 0, sizeof(*l));
    snprintf(l->agent_dir, sizeof(l->agent_dir), "%s", s->agent_dir);
    snprintf(l->receiver, sizeof(l->receiver), "%s", s->receiver);
    l->agent_space = (uint64_t)wm_config_int(t->cfg, "repl.agent_space");
    for (int i = 0; i < s->ndisks && i < REPL_LAYOUT_MAX_DISKS; i++) {
        struct replication_layout_disk *d = &l->disks[l->ndisks++];
        snprintf(d->id, sizeof(d->id), "%s", s->disks[i].id);
        snprintf(d->path, sizeof(d->path), "%s", s->disks[i].path);
        d->size = s->disks[i].size;
        l->agent_space += rp_map_bytes(d->size);
    }
    free(s);
    return 0;
}

/* ------------------------------------------------------------ source side */

/* Runs a shell command on the source; the command prints WM_OK as its last
 * word when it did its job, so the driver does not depend on how a
 * transport reports exit codes. */
static int rp_remote(struct task_ctx *t, const char *what, const char *cmd, char *out,
                     size_t outlen)
{
    out[0] = '\0';
    int rc = t->transport->exec(t, cmd, out, outlen);
    if (rc < 0)
        return t->error[0] ? rc : task_fail(t, "agent %s: transport failed (%s)", what, strerror(-rc));
    if (!strstr(out, "WM_OK"))
        return task_fail(t, "agent %s on the source failed: %.300s", what, out);
    return 0;
}

/* Appends 'text' single-quoted for /bin/sh. */
static void rp_quote(char *buf, size_t cap, const char *text)
{
    size_t n = strlen(buf);
    if (n + 1 < cap)
        buf[n++] = '\'';
    for (const char *c = text; *c && n + 5 < cap; c++) {
        if (*c == '\'') {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else
            buf[n++] = *c;
    }
    if (n + 1 < cap)
        buf[n++] = '\'';
    buf[n] = '\0';
}

/* "d='DIR'; " then the rest. */
static int rp_cmd(char *buf, size_t cap, const char *dir, const char *rest)
{
    snprintf(buf, cap, "d=");
    rp_quote(buf, cap, dir);
    size_t n = strlen(buf);
    int w = snprintf(buf + n, cap - n, "; %s", rest);
    return w < 0 || (size_t)w >= cap - n ? -ENAMETOOLONG : 0;
}

/* Is the agent of dir running, and which version is installed? */
#define RP_STATE_SH                                                                          \
    "v=$(cat \"$d/agent.version\" 2>/dev/null); p=$(cat \"$d/agent.pid\" 2>/dev/null); "      \
    "s=stopped; if [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null && "                          \
    "tr '\\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -q wavemill-agent; then s=running; fi; " \
    "echo \"version=$v state=$s WM_OK\""

/* Stops the agent (TERM, 3 s, KILL) and forgets its pid and version. */
#define RP_STOP_SH                                                                           \
    "p=$(cat \"$d/agent.pid\" 2>/dev/null); if [ -n \"$p\" ] && kill -0 \"$p\" 2>/dev/null && " \
    "tr '\\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -q wavemill-agent; then kill -TERM \"$p\"; " \
    "i=0; while [ $i -lt 30 ] && kill -0 \"$p\" 2>/dev/null; do sleep 0.1; i=$((i+1)); done; "  \
    "kill -KILL \"$p\" 2>/dev/null; fi; rm -f \"$d/agent.pid\" \"$d/agent.version\"; "

/* The version of an agent binary: 16 hex digits of its SHA-256, so a
 * rebuilt agent counts as another version. */
static int rp_agent_version(const char *path, char out[17])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char buf[65536], h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    size_t n;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        ok = EVP_DigestUpdate(md, buf, n);
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    fclose(f);
    if (!ok)
        return -EIO;
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    return 0;
}

static void rp_agent_bin(const struct task_ctx *t, char *out, size_t cap)
{
    const char *cfg = cfg_str(t, "repl.agent_bin");
    if (*cfg) {
        snprintf(out, cap, "%s", cfg);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    if (snprintf(out, cap, "%.4000s/wavemill-agent", slash ? self : ".") >= (int)cap)
        out[0] = '\0';
}

/* ------------------------------------------------------------ control port */

/* Every request to the agent goes through the replicator's client library
 * (repl_client.h), the same code its tests drive: progress frames go to cb
 * until the result; the run stops (-ECANCELED) between frames when the task
 * must stop, and the job keeps running on the agent for the next attempt
 * to re-attach to. */
typedef void (*rp_progress_fn)(const struct proto_progress *p, void *ud);

struct rp_call {
    struct task_ctx *t;
    struct repl_client *cli; /* the worker's certificate (repl.worker_tls_dir) */
    const char *agent;
    int io_ms;
};

struct rp_cb_ud {
    struct task_ctx *t;
    rp_progress_fn fn;
    void *ud;
};

static void rp_cb_progress(const struct proto_progress *p, void *ud)
{
    struct rp_cb_ud *u = ud;
    if (u->fn)
        u->fn(p, u->ud);
}

static bool rp_cb_stop(void *ud)
{
    const struct rp_cb_ud *u = ud;
    return u->t && task_should_stop(u->t);
}

static int rp_control(const struct rp_call *c, const struct repl_client_req *req, rp_progress_fn cb,
                      void *ud, struct repl_client_result *res, char *err, size_t errlen)
{
    struct rp_cb_ud u = {c->t, cb, ud};
    const struct repl_client_cb cbs = {.progress = rp_cb_progress, .should_stop = rp_cb_stop,
                                       .ud = &u};
    return repl_client_call(c->cli, c->agent, req, &cbs, c->io_ms, res, err, errlen);
}

static struct repl_client *rp_client(struct task_ctx *t)
{
    char err[512];
    const char *dir = cfg_str(t, "repl.worker_tls_dir");
    if (!*dir) {
        task_fail_permanent(t, "replication: repl.worker_tls_dir is not set (the worker's certificate, role worker)");
        return NULL;
    }
    struct repl_client *cli = repl_client_new(dir, err, sizeof(err));
    if (!cli)
        task_fail(t, "replication: worker certificate: %s", err);
    return cli;
}

/* Does the agent answer over mTLS?  An empty request is refused by a live
 * agent with a result frame, which proves the handshake and our role. */
static int rp_ping(const struct rp_call *c, char *err, size_t errlen)
{
    const struct repl_client_req req = {.op = REPL_CLIENT_VERIFY, .disk = "", .volume = "ping",
                                        .to = ""};
    struct repl_client_result res;
    int rc = rp_control(c, &req, NULL, NULL, &res, err, errlen);
    if (rc < 0)
        return rc;
    if (strstr(res.text, "role")) {
        snprintf(err, errlen, "agent refused this worker: %.400s", res.text);
        return -EPERM;
    }
    return 0;
}

/* Pings until the agent answers or RP_PING_MS passed. */
static int rp_wait_agent(const struct rp_call *c, char *err, size_t errlen)
{
    int rc = -ETIMEDOUT;
    for (int waited = 0; waited <= RP_PING_MS; waited += 200) {
        if ((rc = rp_ping(c, err, errlen)) == 0 || rc == -EPERM)
            return rc;
        if (c->t && task_should_stop(c->t))
            return -ECANCELED;
        usleep(200 * 1000);
    }
    return rc;
}

/* ------------------------------------------------------------ install_agent */

static int rp_push(struct task_ctx *t, const char *local, const char *dir, const char *name)
{
    char remote[1024];
    snprintf(remote, sizeof(remote), "%s/%s", dir, name);
    int rc = t->transport->push(t, local, remote);
    if (rc < 0 && !t->error[0])
        task_fail(t, "agent install: copying %s to the source failed (%s)", local, strerror(-rc));
    return rc;
}

/* The start file, kept on the source next to the agent: its command line is
 * the agent's whole configuration, so an operator sees (and can re-run)
 * exactly what the factory started.  Written to a local temp file. */
static int rp_start_file(struct task_ctx *t, const struct rp_server *s, char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/wm-agent-start.XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd), unlink(path);
        return task_fail(t, "agent install: temp file: %s", strerror(errno));
    }
    char d[600] = "", listen[320] = "";
    rp_quote(d, sizeof(d), s->agent_dir);
    rp_quote(listen, sizeof(listen), s->agent_addr);
    fprintf(f,
            "#!/bin/sh\n# wavemill-agent of %s, installed by the factory (replication driver wavemill)\n"
            "d=%s\ncd \"$d\" || exit 1\n"
            "setsid ./wavemill-agent serve --listen %s --tls-dir \"$d/tls\" --state-dir \"$d/state\""
            " </dev/null >>\"$d/agent.log\" 2>&1 &\necho $! >\"$d/agent.pid\"\n",
            s->name, d, listen);
    if (fclose(f) != 0) {
        unlink(path);
        return task_fail(t, "agent install: writing %s: %s", path, strerror(errno));
    }
    return 0;
}

/* Copies binary, certificate folder (with its CRL, if any) and start file,
 * then starts it. */
static int rp_push_and_start(struct task_ctx *t, const struct rp_server *s, const char *bin,
                             const char *tls_dir)
{
    char cmd[2048], out[RP_OUT], start[64], tls[PATH_MAX + 16];
    if (rp_cmd(cmd, sizeof(cmd), s->agent_dir,
               RP_STOP_SH "mkdir -p \"$d/tls\" \"$d/state\" && echo WM_OK") < 0 ||
        rp_remote(t, "stop", cmd, out, sizeof(out)) < 0)
        return -EIO;
    static const char *const files[] = {"ca.crt", "cert.pem", "key.pem", "crl.pem"};
    int rc = rp_push(t, bin, s->agent_dir, "wavemill-agent");
    for (size_t i = 0; rc == 0 && i < 4; i++) {
        char name[32];
        snprintf(tls, sizeof(tls), "%s/%s", tls_dir, files[i]);
        if (i == 3 && access(tls, F_OK) != 0)
            break; /* no revocations yet */
        snprintf(name, sizeof(name), "tls/%s", files[i]);
        rc = rp_push(t, tls, s->agent_dir, name);
    }
    if (rc < 0 || rp_start_file(t, s, start, sizeof(start)) < 0)
        return -EIO;
    rc = rp_push(t, start, s->agent_dir, "agent-start.sh");
    unlink(start);
    if (rc < 0)
        return rc;
    if (rp_cmd(cmd, sizeof(cmd), s->agent_dir,
               "chmod 0755 \"$d/wavemill-agent\" \"$d/agent-start.sh\" && chmod 0600 "
               "\"$d/tls/key.pem\" && \"$d/agent-start.sh\" && echo WM_OK") < 0)
        return -ENAMETOOLONG;
    return rp_remote(t, "start", cmd, out, sizeof(out));
}

static int rp_install(struct task_ctx *t, const struct rp_server *s, const char *bin,
                      const char *ver, const struct rp_call *c, const char *tls_dir, bool renewed)
{
    char cmd[2048], out[RP_OUT], err[512] = "", want[64];
    if (rp_cmd(cmd, sizeof(cmd), s->agent_dir, RP_STATE_SH) < 0 ||
        rp_remote(t, "state", cmd, out, sizeof(out)) < 0)
        return -EIO;
    snprintf(want, sizeof(want), "version=%s state=running", ver);
    if (!renewed && strstr(out, want) && rp_ping(c, err, sizeof(err)) == 0) {
        wm_info("repl.agent_current", "server=%s version=%s agent=%s", s->name, ver, s->agent_addr);
        return 0;
    }
    bool replacing = strstr(out, "state=running") != NULL;
    if (rp_push_and_start(t, s, bin, tls_dir) < 0)
        return -EIO;
    int rc = rp_wait_agent(c, err, sizeof(err));
    if (rc == -ECANCELED)
        return rc;
    if (rc < 0)
        return task_fail(t, "agent started on %s but does not answer over mTLS: %s (see %s/agent.log)",
                         s->agent_addr, err, s->agent_dir);
    if (rp_cmd(cmd, sizeof(cmd), s->agent_dir, "echo ") < 0)
        return -ENAMETOOLONG;
    size_t n = strlen(cmd);
    snprintf(cmd + n, sizeof(cmd) - n, "%s >\"$d/agent.version\" && echo WM_OK", ver);
    if (rp_remote(t, "version", cmd, out, sizeof(out)) < 0)
        return -EIO;
    wm_info("repl.agent_installed", "server=%s version=%s agent=%s dir=%s replaced=%d", s->name, ver,
            s->agent_addr, s->agent_dir, replacing);
    return 0;
}

/* The certificate folder to push: the source's own identity (repl.pki_dir,
 * agent_identity.h; *renewed when newly issued) or the shared
 * repl.agent_tls_dir. */
static int rp_agent_tls(struct task_ctx *t, const struct rp_server *s, char *dir, size_t cap,
                        bool *renewed)
{
    const char *pki = cfg_str(t, "repl.pki_dir"), *shared = cfg_str(t, "repl.agent_tls_dir");
    *renewed = false;
    if (!*pki) {
        if (!*shared)
            return task_fail_permanent(
                t, "agent install: neither repl.pki_dir nor repl.agent_tls_dir is set");
        snprintf(dir, cap, "%s", shared);
        return 0;
    }
    const char *vols[RP_MAX_DISKS];
    char err[512];
    for (int i = 0; i < s->ndisks; i++)
        vols[i] = s->disks[i].volume;
    if (agent_identity_ensure(pki, s->name, vols, (size_t)s->ndisks, dir, cap, renewed, err,
                              sizeof(err)) < 0)
        return task_fail(t, "agent install: certificate of %s: %s", s->name, err);
    return 0;
}

static int rp_install_agent(struct task_ctx *t)
{
    struct rp_server s;
    if (!rp_open(t, &s, *cfg_str(t, "repl.pki_dir") != '\0'))
        return -EIO;
    char bin[PATH_MAX], ver[17], tls_dir[PATH_MAX];
    bool renewed;
    if (rp_agent_tls(t, &s, tls_dir, sizeof(tls_dir), &renewed) < 0)
        return -EIO;
    rp_agent_bin(t, bin, sizeof(bin));
    if (rp_agent_version(bin, ver) < 0)
        return task_fail(t, "agent install: cannot read the agent binary %s", bin);
    struct rp_call c = {t, rp_client(t), s.agent_addr, 10000};
    if (!c.cli)
        return -EIO;
    int rc = rp_install(t, &s, bin, ver, &c, tls_dir, renewed);
    repl_client_free(c.cli);
    return rc;
}

/* ------------------------------------------------------------ sync */

/* One disk's outcome, kept in the task checkpoint: a later attempt skips
 * the disks already done, and the demo's summary reads bytes per delta. */
struct rp_done {
    char id[24];
    int64_t gen, sent, wire, total, ms;
};

struct rp_sync {
    struct task_ctx *t;
    struct wm_pg *db;
    struct rp_server s;
    enum replication_sync_mode mode;
    struct rp_done done[RP_MAX_DISKS];
    int ndone;
    int64_t base, all; /* bytes of the disks before this one; of all disks */
    int64_t next_db_ms;
    int64_t nonce; /* non-zero: a catch-up sync, never re-attached to an earlier job */
    const struct rp_disk *cur;
};

static const char *mode_name(enum replication_sync_mode m)
{
    return m == REPLICATION_SYNC_INITIAL ? "initial" : m == REPLICATION_SYNC_DELTA ? "delta" : "final";
}

static void rp_db(struct rp_sync *y, const char *sql, int n, const char *const *p)
{
    char err[256];
    if (wm_pg_exec(y->db, sql, n, p, NULL, err, sizeof(err)) < 0)
        wm_warn("repl.db_update_failed", "server=%s err=\"%s\"", y->s.name, err);
}

static void rp_on_progress(const struct proto_progress *p, void *ud)
{
    struct rp_sync *y = ud;
    int64_t cur = y->cur->size > 0 ? y->cur->size : 0;
    /* a busy receiver is waited for by the agent: no failure, no attempt used */
    task_progress_note(y->t, p->waiting ? "waiting for receiver capacity" : NULL);
    if (p->waiting && !p->total) /* a BEGIN still waiting: no sizes yet */
        return;
    task_progress(y->t, y->base + (int64_t)p->scanned, y->all - cur + (int64_t)p->total);
    int64_t now = wm_mono_ms();
    if (now < y->next_db_ms)
        return;
    y->next_db_ms = now + RP_DB_EVERY_MS;
    char done[24], left[24], rate[24], total[24];
    snprintf(done, sizeof(done), "%" PRIu64, p->scanned);
    snprintf(left, sizeof(left), "%" PRIu64, p->total > p->scanned ? p->total - p->scanned : 0);
    snprintf(rate, sizeof(rate), "%" PRIu64, p->rate);
    snprintf(total, sizeof(total), "%" PRIu64, p->total);
    const char *q[] = {y->cur->id, done, left, rate, total,
                       y->mode == REPLICATION_SYNC_INITIAL ? "INITIAL_SYNC" : "CONTINUOUS"};
    /* a delta keeps replicated_bytes: the target stays whole at the last generation */
    rp_db(y,
          "UPDATE disks SET replicated_bytes = CASE WHEN $6 = 'INITIAL_SYNC' THEN $2::bigint"
          " ELSE replicated_bytes END, backlog_bytes = $3, rate_bytes_per_s = $4,"
          " size_bytes = CASE WHEN size_bytes = 0 THEN $5::bigint ELSE size_bytes END,"
          " replication_state = $6 WHERE id = $1",
          6, q);
}

/* Disks a previous attempt of this task finished (from the checkpoint). */
static void rp_read_checkpoint(struct rp_sync *y)
{
    const char *cp = y->t->checkpoint;
    if (!cp || !*cp)
        return;
    char err[128];
    struct wm_jsonr *d = wm_jsonr_parse(cp, strlen(cp), NULL, NULL, err, sizeof(err));
    const struct wm_jsonr_val *arr = d ? wm_jsonr_get(wm_jsonr_root(d), "disks") : NULL;
    for (size_t i = 0; arr && i < wm_jsonr_len(arr) && y->ndone < RP_MAX_DISKS; i++) {
        const struct wm_jsonr_val *e = wm_jsonr_at(arr, i);
        const char *id = wm_jsonr_str(wm_jsonr_get(e, "id"));
        struct rp_done *o = &y->done[y->ndone];
        if (!id || !wm_jsonr_int(wm_jsonr_get(e, "gen"), &o->gen))
            continue;
        snprintf(o->id, sizeof(o->id), "%s", id);
        wm_jsonr_int(wm_jsonr_get(e, "sent"), &o->sent);
        wm_jsonr_int(wm_jsonr_get(e, "wire"), &o->wire);
        wm_jsonr_int(wm_jsonr_get(e, "total"), &o->total);
        wm_jsonr_int(wm_jsonr_get(e, "ms"), &o->ms);
        y->ndone++;
    }
    wm_jsonr_free(d);
}

static bool rp_disk_done(const struct rp_sync *y, const char *id)
{
    for (int i = 0; i < y->ndone; i++)
        if (strcmp(y->done[i].id, id) == 0)
            return true;
    return false;
}

static void rp_save_checkpoint(struct rp_sync *y)
{
    struct wm_json *j = wm_json_new();
    if (!j)
        return;
    wm_json_obj_begin(j);
    wm_json_kstr(j, "mode", mode_name(y->mode));
    wm_json_key(j, "disks");
    wm_json_arr_begin(j);
    for (int i = 0; i < y->ndone; i++) {
        const struct rp_done *o = &y->done[i];
        wm_json_obj_begin(j);
        wm_json_kstr(j, "id", o->id);
        wm_json_kint(j, "gen", o->gen);
        wm_json_kint(j, "sent", o->sent);
        wm_json_kint(j, "wire", o->wire);
        wm_json_kint(j, "total", o->total);
        wm_json_kint(j, "ms", o->ms);
        wm_json_obj_end(j);
    }
    wm_json_arr_end(j);
    wm_json_obj_end(j);
    if (!wm_json_error(j))
        task_checkpoint_save(y->t, wm_json_text(j));
    wm_json_free(j);
}

/* The disk's row after its generation was committed. */
static void rp_disk_synced(struct rp_sync *y, const struct rp_disk *d,
                           const struct repl_client_result *r)
{
    char gen[24], total[24], rate[24];
    snprintf(gen, sizeof(gen), "%" PRIu64, r->gen);
    snprintf(total, sizeof(total), "%" PRIu64, r->prog.total);
    snprintf(rate, sizeof(rate), "%" PRIu64, r->prog.rate);
    const char *q[] = {d->id, gen, total, rate};
    rp_db(y,
          "UPDATE disks SET generation = $2, replicated_bytes = $3, size_bytes = $3,"
          " backlog_bytes = 0, rate_bytes_per_s = $4, last_sync_at = now(),"
          " replication_state = 'CONTINUOUS' WHERE id = $1",
          4, q);
}

/* Waits (polling, a note with the progress) until ready(y, arg) holds, the
 * task must stop (-ECANCELED) or repl.receiver_wait passed (-ETIMEDOUT).
 * Waiting uses no attempt: the task keeps its lease and reports progress. */
static int rp_wait(struct rp_sync *y, bool (*ready)(struct rp_sync *, void *), void *arg,
                   const char *note)
{
    int64_t until = wm_mono_ms() + wm_config_int(y->t->cfg, "repl.receiver_wait");
    while (!ready(y, arg)) {
        task_progress_note(y->t, note);
        if (task_should_stop(y->t))
            return -ECANCELED;
        if (wm_mono_ms() >= until)
            return -ETIMEDOUT;
        for (int i = 0; i < 20 && !task_should_stop(y->t); i++)
            wm_sleep_ms(100);
    }
    task_progress_note(y->t, NULL);
    return 0;
}

static bool rp_assigned(struct rp_sync *y, void *arg)
{
    struct rp_disk *d = arg;
    const char *pool = cfg_str(y->t, "repl.receivers");
    char err[256];
    if (rpool_assign(y->db, d->id, *pool ? pool : y->s.receiver,
                     wm_config_int(y->t->cfg, "repl.receiver_max_disks"), d->receiver,
                     sizeof(d->receiver), err, sizeof(err)) < 0)
        wm_warn("repl.assign_failed", "disk=%s err=\"%s\"", d->id, err);
    return d->receiver[0] != '\0';
}

static bool rp_receiver_up(struct rp_sync *y, void *arg)
{
    (void)y;
    return rpool_reachable(arg, 2000);
}

/* The disk's receiver: the server's own (servers.settings), else the one
 * the disk is assigned to, else the least-loaded of the pool with room
 * (waiting for room). */
static int rp_disk_receiver(struct rp_sync *y, struct rp_disk *d)
{
    if (y->s.receiver_fixed) {
        snprintf(d->receiver, sizeof(d->receiver), "%s", y->s.receiver);
        return 0;
    }
    if (d->receiver[0])
        return 0;
    int rc = rp_wait(y, rp_assigned, d, "waiting for a receiver with room");
    if (rc == 0)
        wm_info("repl.receiver_assigned", "server=%s disk=%s volume=%s receiver=%s", y->s.name,
                d->id, d->volume, d->receiver);
    else if (rc == -ETIMEDOUT)
        rc = task_fail(y->t, "replication: no receiver of the pool has room for %s", d->volume);
    return rc;
}

/* One job on the agent for disk d (run = which try after the receiver was
 * down: a new job, the failed one's result is kept by the agent). */
static int rp_sync_job(struct rp_sync *y, const struct rp_call *c, const struct rp_disk *d, int run,
                       struct repl_client_result *res, char *err, size_t errlen)
{
    struct task_ctx *t = y->t;
    char id[PROTO_NAME_MAX];
    /* same attempt = same job; a new attempt attaches to a job still running */
    snprintf(id, sizeof(id), "t%lld-a%d-%s-d%s-%lld-r%d", (long long)t->msg.task_id,
             (int)t->msg.attempt, mode_name(y->mode), d->id, (long long)y->nonce, run);
    const struct repl_client_req req = {
        .op = REPL_CLIENT_SYNC,
        .id = id,
        .disk = d->path,
        .volume = d->volume,
        .to = d->receiver,
        .streams = (uint16_t)wm_config_int(t->cfg, "repl.streams"),
        .zstd_level = (int)wm_config_int(t->cfg, "repl.zstd_level"),
        .bwlimit = (uint64_t)wm_config_int(t->cfg, "repl.bwlimit")};
    int rc = -EIO;
    for (int i = 0; i < RP_DIAL_TRIES; i++) {
        memset(res, 0, sizeof(*res));
        rc = rp_control(c, &req, rp_on_progress, y, res, err, errlen);
        if (rc == 0 || rc == -ECANCELED || rc == -EPERM || task_should_stop(t))
            break;
        wm_warn("repl.control_retry", "server=%s volume=%s err=\"%s\"", y->s.name, d->volume, err);
        sleep(1); /* the job goes on on the agent; re-attach */
    }
    return rc;
}

static int rp_sync_disk(struct rp_sync *y, const struct rp_call *c, struct rp_disk *d)
{
    struct task_ctx *t = y->t;
    int rc = rp_disk_receiver(y, d);
    if (rc < 0)
        return rc;
    y->cur = d;
    y->next_db_ms = 0;
    int64_t t0 = wm_mono_ms();
    char err[512] = "";
    struct repl_client_result res;
    for (int run = 0;; run++) {
        rc = rp_sync_job(y, c, d, run, &res, err, sizeof(err));
        if (rc == -ECANCELED || task_should_stop(t))
            return -ECANCELED;
        /* only a job the agent ran and lost can be the receiver's fault */
        if (rc < 0 || res.rc == 0 || rpool_reachable(d->receiver, 2000))
            break;
        /* its receiver is down: the disk waits for it (its replica is
         * there), then the agent resumes from the receiver's checkpoints */
        wm_warn("repl.receiver_down", "server=%s volume=%s receiver=%s", y->s.name, d->volume,
                d->receiver);
        int w = rp_wait(y, rp_receiver_up, d->receiver, "waiting for its receiver (down)");
        if (w == -ECANCELED)
            return w;
        if (w < 0)
            return task_fail(t,
                             "%s sync of %s: receiver %s down for longer than repl.receiver_wait",
                             mode_name(y->mode), d->volume, d->receiver);
    }
    if (rc < 0)
        return task_fail(t, "%s sync of %s: agent %s unreachable: %s", mode_name(y->mode), d->volume,
                         c->agent, err);
    if (res.rc != 0) {
        const char *q[] = {d->id};
        rp_db(y, "UPDATE disks SET replication_state = 'STALLED', rate_bytes_per_s = 0 WHERE id = $1", 1, q);
        return task_fail(t, "%s sync of %s (%s) failed on the agent: %s", mode_name(y->mode), d->volume,
                         d->path, res.text);
    }
    rp_disk_synced(y, d, &res);
    struct rp_done *o = &y->done[y->ndone++];
    *o = (struct rp_done){.gen = (int64_t)res.gen, .sent = (int64_t)res.prog.sent,
                          .wire = (int64_t)res.prog.wire, .total = (int64_t)res.prog.total,
                          .ms = wm_mono_ms() - t0};
    snprintf(o->id, sizeof(o->id), "%s", d->id);
    rp_save_checkpoint(y);
    wm_info("repl.disk_synced",
            "server=%s volume=%s mode=%s receiver=%s gen=%" PRIu64 " sent=%" PRIu64 " wire=%" PRIu64
            " ms=%lld",
            y->s.name, d->volume, mode_name(y->mode), d->receiver, res.gen, res.prog.sent,
            res.prog.wire, (long long)o->ms);
    return 0;
}

static void rp_server_state(struct rp_sync *y, const char *state)
{
    char sid[24];
    snprintf(sid, sizeof(sid), "%lld", (long long)y->t->msg.server_id);
    const char *q[] = {sid, state};
    rp_db(y, "UPDATE servers SET replication_state = $2, updated_at = now() WHERE id = $1", 2, q);
}

static int rp_verify_disks(struct rp_sync *y, const struct rp_call *c, bool strict);

/* Each disk's new generation to EBS when the receiver's control port is
 * configured (replication_ebs.h). */
static int rp_export_ebs(struct rp_sync *y)
{
    char control[256];
    struct replication_ebs_disk e[RP_MAX_DISKS];
    int n = 0;
    replication_ebs_control(y->t, control, sizeof(control));
    if (!*control)
        return 0;
    for (int i = 0; i < y->s.ndisks; i++)
        for (int k = 0; k < y->ndone; k++)
            if (strcmp(y->done[k].id, y->s.disks[i].id) == 0)
                e[n++] = (struct replication_ebs_disk){y->s.disks[i].id, y->s.disks[i].volume,
                                                       y->done[k].gen};
    return replication_ebs_export(y->t, y->db, control, y->s.name, e, n);
}

static int rp_sync_all(struct rp_sync *y, const struct rp_call *c)
{
    if (!*y->s.receiver && !*cfg_str(y->t, "repl.receivers"))
        return task_fail_permanent(y->t,
                                   "replication: no receiver (set repl.receiver or repl.receivers)");
    rp_read_checkpoint(y);
    for (int i = 0; i < y->s.ndisks; i++)
        y->all += y->s.disks[i].size;
    if (y->mode == REPLICATION_SYNC_INITIAL)
        rp_server_state(y, "INITIAL_SYNC");
    for (int i = 0; i < y->s.ndisks; i++) {
        struct rp_disk *d = &y->s.disks[i];
        if (!rp_disk_done(y, d->id)) {
            int rc = rp_sync_disk(y, c, d);
            if (rc < 0)
                return rc;
        }
        y->base += d->size;
    }
    task_progress(y->t, y->all, y->all);
    rp_server_state(y, "CONTINUOUS");
    int rc = rp_export_ebs(y);
    if (rc < 0)
        return rc;
    /* the services are stopped: the target must now equal the source exactly */
    return y->mode == REPLICATION_SYNC_FINAL ? rp_verify_disks(y, c, true) : 0;
}

static int rp_sync(struct task_ctx *t, enum replication_sync_mode mode)
{
    struct rp_sync *y = calloc(1, sizeof(*y));
    if (!y)
        return task_fail(t, "replication: out of memory");
    y->t = t;
    y->mode = mode;
    int rc = -EIO;
    struct rp_call c = {t, NULL, y->s.agent_addr, (int)wm_config_int(t->cfg, "repl.io_timeout")};
    /* configuration first: a missing receiver is not worth a retry */
    if ((y->db = rp_open(t, &y->s, true)) && !*y->s.receiver && !*cfg_str(t, "repl.receivers"))
        rc = task_fail_permanent(t,
                                 "replication: no receiver (set repl.receiver or repl.receivers)");
    else if (y->db && (c.cli = rp_client(t)))
        rc = rp_sync_all(y, &c);
    repl_client_free(c.cli);
    free(y);
    return rc;
}

/* ------------------------------------------------------------ verify */

/* One verify of one disk: 0 equal, 1 differs (*mismatched blocks, text
 * says how), negative errno after task_fail. */
static int rp_verify_disk(struct rp_sync *y, const struct rp_call *c, const struct rp_disk *d,
                          uint64_t *mismatched, char *text, size_t cap)
{
    struct task_ctx *t = y->t;
    char id[PROTO_NAME_MAX];
    /* a verify is never re-attached: each call compares afresh */
    snprintf(id, sizeof(id), "t%lld-a%d-verify-d%s-%lld", (long long)t->msg.task_id,
             (int)t->msg.attempt, d->id, (long long)wm_mono_ms());
    const struct repl_client_req req = {
        .op = REPL_CLIENT_VERIFY, .id = id, .disk = d->path, .volume = d->volume,
        .to = !y->s.receiver_fixed && d->receiver[0] ? d->receiver : y->s.receiver};
    struct repl_client_result res;
    char err[512] = "";
    int rc = rp_control(c, &req, NULL, NULL, &res, err, sizeof(err));
    if (rc == -ECANCELED)
        return rc;
    if (rc < 0)
        return task_fail(t, "verify of %s: agent %s unreachable: %s", d->volume, c->agent, err);
    snprintf(text, cap, "%s", res.text);
    if (res.rc == 0)
        return 0;
    unsigned long long n = 0;
    if (res.rc != 1 || sscanf(res.text, "target differs: %llu of", &n) != 1)
        return task_fail(t, "verify of %s (%s): %s", d->volume, d->path, res.text);
    *mismatched = n;
    return 1;
}

/* Verifies every disk.  A live source keeps writing, so a difference is
 * first taken for lag: one catch-up delta, then a second look; still
 * different by at most repl.verify_lag_blocks passes with the lag logged.
 * strict (after the final delta, services stopped): any difference fails. */
static int rp_verify_disks(struct rp_sync *y, const struct rp_call *c, bool strict)
{
    int64_t lag_max = strict ? 0 : wm_config_int(y->t->cfg, "repl.verify_lag_blocks");
    for (int i = 0; i < y->s.ndisks; i++) {
        struct rp_disk *d = &y->s.disks[i];
        char text[PROTO_TEXT_MAX] = "";
        uint64_t n = 0;
        int rc = rp_verify_disk(y, c, d, &n, text, sizeof(text));
        if (rc == 1 && !strict) {
            wm_info("repl.verify_lag", "server=%s volume=%s %s (catching up)", y->s.name, d->volume, text);
            enum replication_sync_mode m = y->mode;
            y->mode = REPLICATION_SYNC_DELTA;
            y->nonce = wm_mono_ms();
            rc = rp_sync_disk(y, c, d);
            y->mode = m;
            y->nonce = 0;
            rc = rc < 0 ? rc : rp_verify_disk(y, c, d, &n, text, sizeof(text));
        }
        if (rc < 0)
            return rc;
        if (rc == 1 && (int64_t)n > lag_max)
            return task_fail(y->t, "verify of %s (%s): %s", d->volume, d->path, text);
        wm_info("repl.verified", "server=%s volume=%s %s%s", y->s.name, d->volume, text,
                rc == 1 ? " (within the allowed lag of a live source)" : "");
    }
    return 0;
}

static int rp_verify(struct task_ctx *t)
{
    struct rp_sync *y = calloc(1, sizeof(*y));
    if (!y)
        return task_fail(t, "replication: out of memory");
    y->t = t;
    y->mode = REPLICATION_SYNC_DELTA;
    int rc = -EIO;
    struct rp_call c = {t, NULL, y->s.agent_addr, (int)wm_config_int(t->cfg, "repl.io_timeout")};
    if ((y->db = rp_open(t, &y->s, true)) && (c.cli = rp_client(t)))
        rc = rp_verify_disks(y, &c, false);
    repl_client_free(c.cli);
    free(y);
    return rc;
}

/* ------------------------------------------------------------ remove_agent */

/* Did this server's shutdown_source step succeed? */
static bool rp_source_is_down(struct task_ctx *t)
{
    char err[256], sid[24];
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    struct wm_pg *db = task_db(t);
    const char *p[] = {sid};
    PGresult *r = db ? wm_pg_query(db,
                                   "SELECT count(*) FROM tasks WHERE server_id = $1"
                                   " AND kind = 'shutdown_source' AND state = 'SUCCEEDED'",
                                   1, p, err, sizeof(err))
                     : NULL;
    bool down = r && PQntuples(r) == 1 && atoi(PQgetvalue(r, 0, 0)) > 0;
    PQclear(r);
    return down;
}

static int rp_remove_agent(struct task_ctx *t)
{
    struct rp_server s;
    if (!rp_open(t, &s, false))
        return -EIO;
    char cmd[2048], out[RP_OUT];
    /* only the files the driver put there: the folder may be a mount point */
    if (rp_cmd(cmd, sizeof(cmd), s.agent_dir,
               "if [ -d \"$d\" ]; then " RP_STOP_SH
               "rm -rf \"$d/wavemill-agent\" \"$d/tls\" \"$d/state\" \"$d/agent-start.sh\""
               " \"$d/agent.log\" \"$d/wavemill-agent.wm-tmp\"; rmdir \"$d\" 2>/dev/null; fi; echo WM_OK") < 0)
        return task_fail(t, "agent remove: agent_dir too long");
    int rc = rp_remote(t, "remove", cmd, out, sizeof(out));
    const char *pki = cfg_str(t, "repl.pki_dir");
    char err[512];
    if (*pki && agent_identity_revoke(pki, s.name, err, sizeof(err)) < 0)
        return task_fail(t, "agent remove: revoking the certificate of %s: %s", s.name, err);
    if (rc == 0)
        wm_info("repl.agent_removed", "server=%s dir=%s", s.name, s.agent_dir);
    else if (rp_source_is_down(t)) {
        /* decommission follows shutdown_source: a source that is off runs
         * no agent any more, and its files go with the machine */
        wm_warn("repl.agent_remove_skipped", "server=%s reason=\"source shut down: %s\"", s.name,
                t->error);
        t->error[0] = '\0';
        rc = 0;
    }
    return rc;
}

const struct replication_driver replication_wavemill_driver = {
    .name = "wavemill",
    .simulated = false,
    .install_agent = rp_install_agent,
    .sync = rp_sync,
    .verify = rp_verify,
    .remove_agent = rp_remove_agent,
};
