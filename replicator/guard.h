/* guard — who gets a connection slot on a listening daemon (the receiver's
 * data port, the agent's control port), and for how long before it has
 * proven itself.  The limits sshd and PostgreSQL have:
 *
 *   grace_ms      the whole TLS handshake plus the first request must finish
 *                 within this (LoginGraceTime / authentication_timeout);
 *                 a per-read timeout does not bound a client trickling one
 *                 byte at a time, this deadline does.
 *   max_conns     connections of any kind (one thread each).
 *   max_startups  connections still in that first phase (MaxStartups).
 *   max_per_peer  first-phase connections from one peer address.
 *
 * When max_startups is reached, the oldest first-phase connection of the
 * peer address holding the most is cut to make room, unless the newcomer's
 * address already holds as many: a flood from some addresses cannot keep
 * a different address out.
 *
 * Accepting survives running out of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM): the error is logged (rate-limited) and accept backs off
 * briefly instead of returning.  Refusals are logged at most ten times a
 * second per event, the next line saying how many were suppressed.
 *
 * Thread-safe.  A slot keeps its own dup of the socket while in the first
 * phase, so cutting it (shutdown) never hits a descriptor number reused
 * after the connection's thread closed it. */
#ifndef REPL_GUARD_H
#define REPL_GUARD_H

#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

struct guard_opts {
    const char *name; /* for logs: "receiver", "control" */
    int max_conns;    /* default 256 */
    int max_startups; /* default 64 */
    int max_per_peer; /* default 16 */
    int grace_ms;     /* default 15000 */
    /* called from guard_accept's loop about 4 times a second (idle work) */
    void (*on_tick)(void *arg);
    void *tick_arg;
};

struct guard;

struct guard *guard_new(const struct guard_opts *o);
/* Only when no connection holds a slot any more. */
void guard_free(struct guard *g);

/* Waits for a connection on listen_fd (made non-blocking), cutting
 * first-phase connections past their deadline while it waits.  Returns the
 * accepted fd with its peer address, -EINTR when *stop was set, or -EBADF /
 * -EINVAL / -ENOTSOCK for a listen_fd that is no listening socket.  Running
 * out of descriptors or memory is logged and backed off, never returned. */
int guard_accept(struct guard *g, int listen_fd, volatile sig_atomic_t *stop,
                 struct sockaddr_storage *peer);

/* Takes a slot for fd (the caller keeps fd).  Returns the slot (>= 0), or
 * -EBUSY when a limit refuses it (refusal logged, rate-limited). */
int guard_admit(struct guard *g, int fd, const struct sockaddr_storage *peer);
/* The connection in slot passed its handshake and first request: the
 * deadline no longer applies. */
void guard_authed(struct guard *g, int slot);
/* The connection in slot ended. */
void guard_leave(struct guard *g, int slot);

/* Connections holding a slot. */
int guard_count(struct guard *g);

/* Logs event at warn level at most ten times a second per (g, event),
 * adding suppressed=N for the ones left out since. */
void guard_log_limited(struct guard *g, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
