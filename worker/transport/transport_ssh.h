/* transport_ssh — the ssh transport: the system OpenSSH client, driven
 * with BatchMode (never a prompt), StrictHostKeyChecking against the
 * factory's own known_hosts file (never ~/.ssh), one key file
 * (IdentitiesOnly, no agent), a connect timeout and an overall timeout per
 * command.  ~/.ssh/config is ignored (-F /dev/null) so the user's settings
 * never change what the factory does.  ssh's own diagnostics go to a
 * private log (-E) so that they are told apart from the remote command's
 * stderr and turned into the errors listed in transport.h. */
#ifndef WM_TRANSPORT_SSH_H
#define WM_TRANSPORT_SSH_H

#include <stdbool.h>

#include "transport/transport.h"

struct transport_ssh_config {
    const char *host;        /* address or name of the source */
    int port;                /* 0 = 22 */
    const char *user;        /* NULL = "root" */
    const char *key_file;    /* private key, readable (unless key_fd) */
    int key_fd;              /* > 2: the private key in memory (a memfd of
                                mode 0600, close-on-exec) that ssh opens as
                                /proc/<worker pid>/fd/<key_fd>: no key file
                                exists that could outlive the worker (ssh
                                closes inherited descriptors, so it cannot
                                simply inherit it); key_file is then ignored.
                                Needs ssh to run as root or as the worker's
                                user with the worker dumpable.  Borrowed. */
    const char *known_hosts; /* the factory's known_hosts; must pin the host */
    int connect_timeout_s;   /* 0 = 10 */
    const char *ssh_path;    /* NULL = /usr/bin/ssh */
};

/* A host name or address (IPv6 too) safe to put on an ssh or remote shell
 * command line: no leading '-', nothing a shell or ssh would read as syntax. */
bool transport_ssh_host_ok(const char *h);

/* NULL with the reason in err if an argument is unusable (bad host or
 * user name, unreadable key file).  Copies everything it keeps. */
struct transport *transport_ssh_new(const struct transport_ssh_config *cfg, char *err,
                                    size_t errlen);

/* Records host:port's public key ("ssh-ed25519 AAAA... [comment]") in
 * known_hosts, replacing any entry for that exact host:port; other lines
 * are kept.  The file is rewritten atomically (temp file + rename). */
int transport_ssh_pin_host(const char *known_hosts, const char *host, int port, const char *pubkey,
                           char *err, size_t errlen);

#endif
