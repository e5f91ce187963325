/* The set-up the repl integration tests share: a throw-away PKI with the
 * agent1/recv1(/worker1) identities, a receiver on a free loopback port
 * serving in a thread, and random source images.  Uses libreplicator, so
 * it is linked into the repl tests only (tests/module.mk). */
#ifndef REPL_FIXTURE_H
#define REPL_FIXTURE_H

#include <signal.h>
#include <stddef.h>

/* A fresh PKI in pki (tls_fixture_new) with identities agent1 (agent),
 * recv1 (receiver) and, if with_worker, worker1 (worker); root gets
 * <pki>/root, created for the receiver.  0 or -1. */
int repl_fixture_pki(char *pki, size_t pkicap, char *root, size_t rootcap, int with_worker);

/* Listens on 127.0.0.1 on a port the kernel picks; the address goes to
 * addr.  The socket, or -1. */
int repl_fixture_listen(char *addr, size_t addrcap);

/* A receiver with pki's recv1 identity writing under root (10 s I/O
 * timeout), serving on a fresh repl_fixture_listen() address (to addr) in
 * a detached thread until *stop.  At most four per program; they live
 * until it exits.  0, or -1 with err. */
int repl_fixture_receiver(const char *pki, const char *root, char *addr, size_t addrcap,
                          volatile sig_atomic_t *stop, char *err, size_t errlen);

/* Waits until the receiver serving at addr has no connection left (each
 * handler finished, its last checkpoint written): 0, -ETIMEDOUT after
 * timeout_ms, -ENOENT if no fixture receiver serves addr. */
int repl_fixture_receiver_idle(const char *addr, int timeout_ms);

/* size random bytes written to a new file at path; with zero_gap, the
 * sixth of it starting at a third is zeros (blocks sync can skip). */
int repl_fixture_random_file(const char *path, size_t size, int zero_gap);

#endif
