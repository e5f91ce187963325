/* agent_identity — one certificate per source (docs/security.md §2).
 *
 * With repl.pki_dir set (the factory CA's folder), agent_install gives each
 * source its own agent certificate, PKI/agent-<server>/, bound to the
 * server and the receiver volumes of its disks (pki.h) and valid
 * WM_PKI_AGENT_DAYS: the receiver then lets that agent touch only those
 * volumes.  An identity is reissued (the old one revoked) when it expires
 * within AGENT_IDENTITY_RENEW_DAYS or its volumes changed; decommission
 * revokes it. */
#ifndef WORKER_AGENT_IDENTITY_H
#define WORKER_AGENT_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#define AGENT_IDENTITY_RENEW_DAYS 7

/* The identity folder of server (to push as the agent's tls/) into
 * tls_dir; *renewed says whether a new certificate was issued (the agent
 * must be restarted with it).  0 or -errno with err. */
int agent_identity_ensure(const char *pki_dir, const char *server, const char *const *volumes,
                          size_t nvolumes, char *tls_dir, size_t cap, bool *renewed, char *err,
                          size_t errlen);

/* Revokes server's agent certificate (nothing to do if it has none).
 * 0 or -errno with err. */
int agent_identity_revoke(const char *pki_dir, const char *server, char *err, size_t errlen);

#endif
