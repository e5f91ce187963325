/* repl_client — worker side of the agent control protocol (see repl_client.h). */
#include "repl_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "frame.h"
#include "tls.h"
#include "xport.h"

struct repl_client {
    struct wm_tls_ctx *tls;
};

struct repl_client *repl_client_new(const char *tls_dir, char *err, size_t errlen)
{
    struct repl_client *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (tls_dir && !(c->tls = wm_tls_ctx_new(tls_dir, WM_TLS_CLIENT, err, errlen))) {
        free(c);
        return NULL;
    }
    return c;
}

void repl_client_free(struct repl_client *c)
{
    if (!c)
        return;
    wm_tls_ctx_free(c->tls);
    free(c);
}

static int client_request(struct xport *x, const struct repl_client_req *r)
{
    struct proto_ctl_req m = {.op = (uint8_t)r->op,
                              .full = (uint8_t)r->full,
                              .sha256 = (uint8_t)r->sha256,
                              .streams = r->streams,
                              .bs = r->block_size,
                              .level = r->zstd_level,
                              .bwlimit = r->bwlimit};
    if (strlen(r->disk) >= sizeof(m.disk) || strlen(r->volume) >= sizeof(m.volume) ||
        strlen(r->to) >= sizeof(m.to) || (r->id && strlen(r->id) >= sizeof(m.id)))
        return -ENAMETOOLONG;
    snprintf(m.id, sizeof(m.id), "%s", r->id ? r->id : "");
    snprintf(m.disk, sizeof(m.disk), "%s", r->disk);
    snprintf(m.volume, sizeof(m.volume), "%s", r->volume);
    snprintf(m.to, sizeof(m.to), "%s", r->to);
    uint8_t buf[2048];
    long n = proto_ctl_req_encode(&m, buf, sizeof(buf));
    return n < 0 ? (int)n : frame_send(x, FRAME_CTL_REQ, buf, (uint32_t)n);
}

int repl_client_call(struct repl_client *c, const char *agent_hostport,
                     const struct repl_client_req *req, const struct repl_client_cb *cb,
                     int io_timeout_ms, struct repl_client_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    struct xport *x =
        xport_dial(agent_hostport, c->tls, io_timeout_ms ? io_timeout_ms : 120000, err, errlen);
    if (!x)
        return -ECONNREFUSED;
    /* an EBS export runs on the receiver (its control port), the rest on the agent */
    const char *role = req->op == REPL_CLIENT_EBS_EXPORT ? "receiver" : "agent";
    if (c->tls && strcmp(x->peer_role, role) != 0) {
        snprintf(err, errlen, "peer %s is not %s %s (role '%s')", x->peer_name,
                 role[0] == 'a' ? "an" : "a", role, x->peer_role);
        xport_free(x);
        return -EPERM;
    }
    int rc = client_request(x, req);
    uint8_t *buf = NULL, type;
    size_t cap = 0;
    while (rc == 0) {
        if (cb && cb->should_stop && cb->should_stop(cb->ud)) {
            rc = -ECANCELED;
            break;
        }
        int n = frame_recv(x, &type, &buf, &cap, 65536, err, errlen);
        struct proto_progress p;
        struct proto_ctl_result r;
        if (n < 0) {
            rc = n;
        } else if (type == FRAME_CTL_PROGRESS && proto_progress_decode(buf, (size_t)n, &p) == 0) {
            if (cb && cb->progress)
                cb->progress(&p, cb->ud);
        } else if (type == FRAME_CTL_RESULT && proto_ctl_result_decode(buf, (size_t)n, &r) == 0) {
            res->rc = r.rc;
            res->gen = r.gen;
            res->prog = r.prog;
            snprintf(res->text, sizeof(res->text), "%s", r.text);
            break;
        } else {
            snprintf(err, errlen, "malformed frame from agent");
            rc = -EPROTO;
        }
    }
    free(buf);
    xport_free(x);
    return rc;
}

int repl_client_run(struct repl_client *c, const char *agent_hostport,
                    const struct repl_client_req *req, repl_client_progress_fn cb, void *ud,
                    int io_timeout_ms, struct repl_client_result *res, char *err, size_t errlen)
{
    const struct repl_client_cb cbs = {.progress = cb, .ud = ud};
    return repl_client_call(c, agent_hostport, req, &cbs, io_timeout_ms, res, err, errlen);
}

uint64_t repl_client_map_bytes(uint64_t size, uint32_t block_size)
{
    return size ? blockmap_file_bytes(size, block_size ? block_size : 4096) : 0;
}
