/* The fake AWS of the aws tests: moto (tests/peers/moto_server.sh) and the
 * throttling fault proxy in front of it (tests/peers/moto_fault_proxy.py),
 * both run in a directory of the test's own. */
#ifndef ORCH_MOTO_H
#define ORCH_MOTO_H

#include <limits.h>
#include <sys/types.h>

struct orch_moto {
    int moto_port, proxy_port;
    pid_t proxy_pid;
    char moto_url[64], proxy_url[64]; /* http://127.0.0.1:<port> */
    char proxy_log[PATH_MAX];         /* one line per request the proxy saw */
};

/* Starts moto in dir (at most 60 s) and the proxy in front of it (at most
 * 10 s, Python from $WM_PY or the project venv); repo is the repository
 * root.  0, or -1 with the reason on stderr. */
int orch_moto_start(struct orch_moto *m, const char *repo, const char *dir);

/* Stops the proxy and moto and removes dir; the shell's exit status. */
int orch_moto_stop(struct orch_moto *m, const char *repo, const char *dir);

#endif
