/* repl_cutproxy — a TCP proxy for tests that cuts every connection after a
 * number of bytes (both directions counted), the way a flaky network
 * would.  Runs on its own threads inside the test process. */
#ifndef REPL_CUTPROXY_H
#define REPL_CUTPROXY_H

#include <stddef.h>
#include <stdint.h>

struct repl_cutproxy;

/* Listens on 127.0.0.1:0 and forwards to target ("HOST:PORT").  Connection
 * k is cut after cut_after + k * step bytes (step 0: always the same).
 * The listening address goes to listen_out.  NULL on failure. */
struct repl_cutproxy *repl_cutproxy_start(const char *target, uint64_t cut_after, uint64_t step,
                                          char *listen_out, size_t outlen);
/* Cuts every connection now (RST), whatever its budget. */
void repl_cutproxy_cut_now(struct repl_cutproxy *p);
/* Bytes forwarded from clients to the target so far, all connections. */
uint64_t repl_cutproxy_bytes_up(struct repl_cutproxy *p);
/* Connections cut so far. */
unsigned repl_cutproxy_cuts(struct repl_cutproxy *p);
/* Stops accepting (running relays end with their connections). */
void repl_cutproxy_stop(struct repl_cutproxy *p);

#endif
