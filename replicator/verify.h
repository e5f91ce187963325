/* verify — does the target equal the source at the last committed
 * generation?  The receiver re-reads its image and streams the digest of
 * every block (and, on request, SHA-256 of the whole volume); the agent
 * hashes the source the same way and compares. */
#ifndef REPL_VERIFY_H
#define REPL_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "sync.h"

struct verify_result {
    uint64_t gen, size_src, size_dst, blocks, mismatched, first_mismatch;
    int sha_checked, sha_equal;
};

/* 0 when equal, 1 when they differ (res says how), -errno on failure. */
int verify_run(const struct sync_opts *o, int sha256, struct verify_result *res, char *err,
               size_t errlen);

#endif
