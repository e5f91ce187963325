/* ratelimit — token bucket shared by the streams of one sync (--bwlimit).
 * Tokens may go negative: a caller taking a large frame sleeps until the
 * debt is paid, which keeps the average exact without splitting frames. */
#ifndef REPL_RATELIMIT_H
#define REPL_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

/* rate in bytes per second; 0 = unlimited (take never sleeps). */
struct ratelimit *ratelimit_new(uint64_t rate);
void ratelimit_free(struct ratelimit *rl);
/* Accounts n bytes, sleeping as needed.  NULL rl is unlimited. */
void ratelimit_take(struct ratelimit *rl, uint64_t n);
/* "10M", "512k", "1G", "2T", "1000" (bytes/s, powers of 1024) -> bytes/s; -1 on
 * error.  Also parses plain sizes (--max-volume-size). */
int64_t ratelimit_parse(const char *s);

#endif
