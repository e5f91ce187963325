/* repl_client — what a worker links to drive a resident agent
 * (`wavemill-agent serve`) over mTLS: start a sync or verify of one disk to
 * one receiver, get progress callbacks, get the result.
 *
 * If the control connection drops, the job keeps running on the agent;
 * calling repl_client_run again with the same request (same id) attaches to
 * it, or returns its result if it finished meanwhile.  A new sync after a
 * failure resumes from the receiver's checkpoint, so no work is lost. */
#ifndef REPL_CLIENT_H
#define REPL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct repl_client;

enum repl_client_op {
    REPL_CLIENT_SYNC = PROTO_CTL_SYNC,
    REPL_CLIENT_VERIFY = PROTO_CTL_VERIFY,
    REPL_CLIENT_EBS_EXPORT = PROTO_CTL_EBS_EXPORT /* to a receiver's control port;
                                                     see ebs_control.h */
};

struct repl_client_req {
    enum repl_client_op op;
    const char *id;      /* request id (e.g. "task-42-attempt-3"); may be NULL */
    const char *disk;    /* path on the source host */
    const char *volume;  /* volume name on the receiver */
    const char *to;      /* receiver HOST:PORT as the agent reaches it */
    uint16_t streams;    /* 0 = agent default (2 on 2+ cores) */
    uint32_t block_size; /* 0 = 4096 */
    int zstd_level;      /* 0 = 1 */
    uint64_t bwlimit;    /* bytes/s, 0 = none */
    int full, sha256;
};

struct repl_client_result {
    int rc;       /* 0 success; verify: 1 = target differs; < 0 failure */
    uint64_t gen; /* committed (sync) or verified (verify) generation */
    struct proto_progress prog;
    char text[PROTO_TEXT_MAX];
};

/* progress: bytes scanned/sent/on the wire, total, rate, eta, generation */
typedef void (*repl_client_progress_fn)(const struct proto_progress *p, void *ud);

/* What the caller hears during a run and how it stops one (members may be
 * NULL).  Progress frames are also the agent's sign of life: io_timeout_ms
 * bounds the silence between two frames. */
struct repl_client_cb {
    repl_client_progress_fn progress; /* each progress frame */
    /* Asked before each frame is awaited: true = stop now.  The run then
     * returns -ECANCELED; the job goes on on the agent and a later run with
     * the same request id re-attaches to it. */
    bool (*should_stop)(void *ud);
    void *ud;
};

/* tls_dir: the worker's certificate folder (role worker).  NULL: plain TCP,
 * for tests only.  NULL with err on failure. */
struct repl_client *repl_client_new(const char *tls_dir, char *err, size_t errlen);
void repl_client_free(struct repl_client *c);

/* Runs req on the agent at agent_hostport, blocking until the result.
 * Returns 0 with *res filled when the agent answered (res->rc tells how the
 * operation went), or -errno with err when the agent could not be reached or
 * the connection dropped (retry: the job is re-attached).  io_timeout_ms
 * bounds the wait for each progress/result frame (0 = 120 s). */
int repl_client_run(struct repl_client *c, const char *agent_hostport,
                    const struct repl_client_req *req, repl_client_progress_fn cb, void *ud,
                    int io_timeout_ms, struct repl_client_result *res, char *err, size_t errlen);

/* repl_client_run with the callbacks of cb (NULL: none), and -ECANCELED
 * when cb->should_stop said so.  The worker's replication driver drives
 * every agent request through this. */
int repl_client_call(struct repl_client *c, const char *agent_hostport,
                     const struct repl_client_req *req, const struct repl_client_cb *cb,
                     int io_timeout_ms, struct repl_client_result *res, char *err, size_t errlen);

/* Bytes of the digest map the agent keeps for a disk of size bytes with
 * block_size (0 = the agent's 4096): its state folder needs this much per
 * disk (the prerequisite check adds it up). */
uint64_t repl_client_map_bytes(uint64_t size, uint32_t block_size);

#endif
