/* driver_transport — the transport drivers "ssh" and "local" (driver.h
 * roles) over the transport library; see driver_transport.c. */
#ifndef WM_DRIVER_TRANSPORT_H
#define WM_DRIVER_TRANSPORT_H

#include <stddef.h>

#include "driver.h"

struct wm_config;

/* Declares ssh.* and secrets.master_key. */
int transport_driver_declare(struct wm_config *cfg, char *err, size_t errlen);

extern const struct transport_driver transport_ssh_driver;
extern const struct transport_driver transport_local_driver;

#endif
