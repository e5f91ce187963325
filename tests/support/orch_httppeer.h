/* orch_httppeer — starts and stops tests/peers/http_peer.py (a local HTTP
 * server on 127.0.0.1, free port, recording every request as a JSON line)
 * for the probe and CMDB tests. */
#ifndef ORCH_HTTPPEER_H
#define ORCH_HTTPPEER_H

#include <sys/types.h>

struct orch_httppeer {
    pid_t pid;
    int port;
    char record[256]; /* JSON lines, one per request */
    char dir[64];     /* temporary directory holding record */
};

/* Starts the peer with extra arguments (NULL-terminated list, may be NULL),
 * waits until it listens.  0, or -1 with the reason on stderr. */
int orch_httppeer_start(struct orch_httppeer *p, const char *const *extra);
/* SIGTERM, then SIGKILL after 3 s; reaps it; removes the directory. */
void orch_httppeer_stop(struct orch_httppeer *p);
/* The record file's contents (malloc'd, "" when empty), or NULL. */
char *orch_httppeer_records(const struct orch_httppeer *p);
/* Number of requests recorded so far. */
int orch_httppeer_count(const struct orch_httppeer *p);

#endif
