/* control — the resident agent's mTLS control server (`wavemill-agent
 * serve`).  A worker connects (certificate role "worker"), sends CTL_REQ
 * (sync or verify of one disk to one receiver), then receives CTL_PROGRESS
 * frames and one CTL_RESULT.
 *
 * Jobs run on their own threads, not the connection's: a dropped control
 * connection leaves the job running; a request for the same operation
 * (op, volume, receiver) re-attaches to the running job, or gets the
 * result of a job that finished in the last CONTROL_KEEP_S seconds. */
#ifndef REPL_CONTROL_H
#define REPL_CONTROL_H

#include <signal.h>

struct wm_tls_ctx;

#define CONTROL_KEEP_S 300

struct control_opts {
    struct wm_tls_ctx *server_tls; /* control connections (NULL: plain, tests) */
    struct wm_tls_ctx *client_tls; /* data connections to receivers */
    const char *state_dir;
    int progress_ms;
    /* connection bounds (guard.h; 0 = default): the control port has few
     * legitimate clients (the workers), so its caps are small */
    int max_conns;    /* default 32 */
    int max_startups; /* default 16 */
    int max_per_peer; /* default 8 */
    int grace_ms;     /* default 15000 */
    const char *root; /* set: a receiver's control port (volumes under root):
                         only EBS exports (ebs_control.h); NULL: the agent's
                         (sync, verify) */
};

/* Accept loop until *stop; running out of descriptors is logged and
 * survived (guard.h).  Returns 0, or -errno for a bad listen_fd. */
int control_serve(const struct control_opts *o, int listen_fd, volatile sig_atomic_t *stop);

#endif
