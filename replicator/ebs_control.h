/* ebs_control — the EBS export as a control-channel job of the receiver
 * (`wavemill-receiver serve --control HOST:PORT`, control.c): a worker
 * sends CTL_REQ op PROTO_CTL_EBS_EXPORT and gets CTL_PROGRESS frames and
 * one CTL_RESULT, re-attaching to a running export like to a sync.
 *
 * Request: volume = the receiver volume, to = "ebs", disk = the export's
 * options as a JSON object (all optional):
 *   {"endpoint": URL, "ec2_endpoint": URL, "region": "eu-west-1",
 *    "generation": N, "inflight": 16, "description": "...",
 *    "tags": {"wave": "w1", ...}, "new_chain": false,
 *    "attempts": 8, "backoff_base_ms": 200, "backoff_cap_ms": 20000}
 * Credentials are the receiver's own (environment, else its instance role
 * through IMDSv2): none travel over the channel.
 *
 * Progress: total = bytes the snapshot needs (planned blocks x 512 KiB),
 * scanned = bytes accepted so far (earlier runs included), sent = wire =
 * bytes put by this run, rate in bytes/s, eta_s, gen.
 * Result: rc 0 or -errno; gen; text = a JSON object {"snapshot", "parent",
 * "parent_generation", "changed_blocks", "blocks_put", "bytes_put",
 * "resumed_blocks", "retries", "seconds", "volume_size", "already"} (or the
 * error message when rc < 0). */
#ifndef REPL_EBS_CONTROL_H
#define REPL_EBS_CONTROL_H

#include "proto.h"

typedef void (*ebs_control_progress_fn)(const struct proto_progress *p, int final, void *ud);

void ebs_control_execute(const struct proto_ctl_req *req, const char *root,
                         ebs_control_progress_fn progress, void *ud, int progress_ms,
                         struct proto_ctl_result *res);

#endif
