/* ebs_api — the EBS direct APIs the receiver's export speaks, SigV4-signed
 * for service "ebs" (host ebs.REGION.amazonaws.com or a configured
 * endpoint such as a local moto server), plus EC2 DescribeSnapshots to
 * wait for a snapshot to be completed.
 *
 *   StartSnapshot     POST /snapshots                         (JSON body)
 *   PutSnapshotBlock  PUT  /snapshots/ID/blocks/INDEX         (512 KiB body,
 *                     x-amz-Data-Length, x-amz-Checksum = base64 SHA-256,
 *                     x-amz-Checksum-Algorithm: SHA256)
 *   CompleteSnapshot  POST /snapshots/completion/ID           (x-amz-ChangedBlocksCount,
 *                     x-amz-Checksum = base64 SHA-256 over the blocks'
 *                     SHA-256 digests in block-index order, algorithm
 *                     SHA256, x-amz-Checksum-Aggregation-Method: LINEAR)
 *
 * Requests carry X-Amz-Security-Token when the credentials have a session
 * token.  Single calls are retried on throttling/5xx/transport errors with
 * exponential backoff and full jitter (wm_http_do_retry); the block puts
 * are signed here and sent by ebs_upload (many in flight).
 *
 * Errors: 0 or -errno with "Code: message (HTTP n)" in err; -EAGAIN when
 * still throttled after the last attempt, -ENOENT for a missing snapshot,
 * -EIO for other AWS errors. */
#ifndef REPL_EBS_API_H
#define REPL_EBS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "awscred.h"
#include "http.h"
#include "sigv4.h"

#define EBS_BLOCK_SIZE (512u * 1024) /* the EBS direct APIs' only block size */
#define EBS_ID_MAX 64
#define EBS_MAX_TAGS 16

struct ebs_api_cfg {
    const char *endpoint;           /* NULL = https://ebs.REGION.amazonaws.com */
    const char *ec2_endpoint;       /* NULL = https://ec2.REGION.amazonaws.com */
    const char *region;             /* NULL = us-east-1 */
    long timeout_ms;                /* per request attempt; 0 = 60 s */
    struct wm_http_backoff backoff; /* max_attempts 0 = 8 attempts, base 200 ms, cap 20 s */
};

struct ebs_api {
    char endpoint[256], host[256], ec2_endpoint[256], ec2_host[256], region[64];
    struct wm_awscred cred; /* a copy, wiped by ebs_api_clear */
    long timeout_ms;
    struct wm_http_backoff backoff;
};

int ebs_api_init(struct ebs_api *a, const struct ebs_api_cfg *cfg, const struct wm_awscred *cred,
                 char *err, size_t errlen);
void ebs_api_clear(struct ebs_api *a);

/* --- signing (also for requests sent elsewhere) --- */

#define EBS_SIGNED_MAX 12
struct ebs_signed {
    char *lines[EBS_SIGNED_MAX]; /* "Name: value", owned */
    size_t n;
};
/* Signs method path (query may be NULL) with the given extra headers
 * (signed and sent) and body; ec2 picks the EC2 endpoint/service.
 * out must be released with ebs_signed_free. */
int ebs_api_sign(const struct ebs_api *a, bool ec2, const char *method, const char *path,
                 const char *query, const struct wm_sigv4_header *extra, size_t nextra,
                 const void *body, size_t body_len, struct ebs_signed *out, char *err,
                 size_t errlen);
void ebs_signed_free(struct ebs_signed *s);

/* --- the calls --- */

struct ebs_start {
    uint64_t volume_size_gib;
    const char *parent;       /* NULL/"" = a root snapshot */
    const char *client_token; /* idempotency of a retried start */
    const char *description;
    const char *tag_keys[EBS_MAX_TAGS], *tag_values[EBS_MAX_TAGS];
    size_t ntags;
    int timeout_min; /* the snapshot's completion deadline; 0 = 1440 */
};

/* StartSnapshot; id gets the new snapshot's id. */
int ebs_api_start_snapshot(struct ebs_api *a, const struct ebs_start *s, char id[EBS_ID_MAX],
                           char *err, size_t errlen);

/* Headers of one PutSnapshotBlock of EBS_BLOCK_SIZE bytes at data. */
int ebs_api_block_headers(const struct ebs_api *a, const char *id, uint64_t index,
                          const uint8_t *data, const uint8_t sha256[32], struct ebs_signed *out,
                          char *url, size_t urllen, char *err, size_t errlen);

/* CompleteSnapshot; status gets "completed", "pending" or "error". */
int ebs_api_complete(struct ebs_api *a, const char *id, uint64_t changed_blocks,
                     const uint8_t aggregate[32], char status[32], char *err, size_t errlen);

/* EC2 DescribeSnapshots of id; state gets "pending", "completed" or "error". */
int ebs_api_snapshot_state(struct ebs_api *a, const char *id, char state[32], char *err,
                           size_t errlen);

/* --- answers --- */

/* AWS's rule for an answer (status, body): throttling, 429 or 5xx. */
bool ebs_api_retryable(long status, const char *body, size_t len);
/* "Code: message (HTTP n)" of a failed answer into out; returns its errno. */
int ebs_api_error(long status, const char *body, size_t len, char *out, size_t outlen);

void ebs_base64(const uint8_t *in, size_t len, char *out, size_t outlen);

#endif
