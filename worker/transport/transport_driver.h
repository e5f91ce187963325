/* transport_driver — the transport drivers "ssh" and "local" (driver.h
 * roles) over the transport library; see transport_driver.c. */
#ifndef WM_TRANSPORT_DRIVER_H
#define WM_TRANSPORT_DRIVER_H

#include <stddef.h>

#include "driver.h"

struct wm_config;

/* Declares ssh.* and secrets.master_key. */
int transport_driver_declare(struct wm_config *cfg, char *err, size_t errlen);

struct task_ctx;

/* The transport library's handle (transport.h) on the task's server over
 * its transport driver ("ssh" or "local"), for callers that need a
 * command's exit code themselves (validation probes).  0 with s->tp set,
 * or negative errno after task_fail; always transport_driver_close(s). */
struct tp_session {
    struct transport *tp;
    int keyfd; /* the credential's key in memory (memfd), or 0 */
};
int transport_driver_open(struct task_ctx *t, struct tp_session *s);
void transport_driver_close(struct tp_session *s);

extern const struct transport_driver transport_ssh_driver;
extern const struct transport_driver transport_local_driver;

#endif
