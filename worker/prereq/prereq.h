/* prereq — the prerequisites of migrating one source server, checked over
 * its transport in one round trip: reachability, OS family and version,
 * each disk's size, free space for the agent, and whether the source can
 * open a TCP connection to the receiver.
 *
 * Every failed check is named in the error, checks joined by "; ":
 *   "prereq disk_size: /dev/sdb not found; prereq agent_space: /opt/wavemill
 *    has 1.0 MiB free, needs 64.0 MiB"
 * Names: reachability, os, disk_size, agent_space, receiver_reach. */
#ifndef WM_PREREQ_H
#define WM_PREREQ_H

#include <stdint.h>

#include "transport/transport.h"

#define PREREQ_MAX_DISKS 16

struct prereq_spec {
    const char *const *disks;  /* device or image paths on the source */
    int ndisks;                /* 0..PREREQ_MAX_DISKS */
    const char *agent_dir;     /* where the agent will live (need not exist yet) */
    uint64_t agent_min_free;   /* bytes needed there */
    const char *os_family;     /* expected `uname -s` ("Linux"); NULL = any */
    const char *receiver_host; /* NULL = skip the receiver check */
    int receiver_port;
    int timeout_ms; /* for the whole check; 0 = 30000 */
};

/* What the source told us (valid as far as the checks got). */
struct prereq_facts {
    char os_family[32];                   /* uname -s */
    char os_id[64];                       /* /etc/os-release ID */
    char os_version[64];                  /* VERSION_ID */
    char os_pretty[128];                  /* PRETTY_NAME */
    uint64_t disk_size[PREREQ_MAX_DISKS]; /* bytes; 0 if not found */
    uint64_t agent_free; /* bytes free at agent_dir (or its nearest existing parent) */
    int receiver_ok;     /* 1 reachable, 0 not, -1 not checked */
};

/* 0 when every check passed; -EHOSTUNREACH (or the transport's error) when
 * the source cannot be reached; -EINVAL for a bad spec; -EPERM when one
 * or more checks failed (all of them named in err): the server may not go on. */
int prereq_check(struct transport *tp, const struct prereq_spec *spec, struct prereq_facts *facts,
                 char *err, size_t errlen);

/* The remote shell script prereq_check runs, for logs and tests; into buf. */
int prereq_script(const struct prereq_spec *spec, char *buf, size_t buflen, char *err,
                  size_t errlen);

#endif
