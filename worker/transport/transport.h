/* transport — run commands on a source server and copy files to it.
 *
 * Two implementations behind one table of operations:
 *   ssh   (transport_ssh.c)   the system OpenSSH client, key-only, the host
 *                             key pinned in a known_hosts file the factory
 *                             keeps, no prompts ever;
 *   local (transport_local.c) /bin/sh on this host, for development.
 *
 * This is the library the task handlers' transport driver (driver.h) is
 * built on; it knows nothing of tasks.  Every call is bounded: output is
 * truncated to the caller's buffer (stderr to TRANSPORT_ERROUT_MAX) and a
 * command that outlives its timeout is killed with its process group.
 *
 * Errors: 0 when the command ran (whatever its exit code, see res), or a
 * negative errno with a sentence in err:
 *   -ETIMEDOUT     the overall timeout passed, or the connection timed out
 *   -EKEYREJECTED  host key verification failed (unknown or changed key)
 *   -EACCES        permission denied (publickey)
 *   -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH   as the words say
 *   -EIO           any other failure of the transport itself
 *   -EINVAL, -ENOMEM, -errno of a local system call */
#ifndef WM_TRANSPORT_H
#define WM_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#define TRANSPORT_ERROUT_MAX 4096

struct transport;

/* What a command that ran left behind. */
struct transport_result {
    int exit_code;      /* the command's exit status; 128+N if killed by signal N */
    size_t out_len;     /* bytes of stdout in the caller's buffer (NUL not counted) */
    bool out_truncated; /* stdout was longer than the buffer; the rest was dropped */
    char errout[TRANSPORT_ERROUT_MAX]; /* the command's stderr, truncated, NUL-terminated */
};

struct transport_ops {
    const char *name; /* "ssh", "local" */
    /* Runs cmd, a command line for /bin/sh, with stdin from /dev/null;
     * stdout into out (NUL-terminated, outcap >= 1).  ssh also bounds it on
     * the source (coreutils timeout, if there) so a hung command does not
     * outlive the connection we killed. */
    int (*run)(struct transport *tp, const char *cmd, int timeout_ms, char *out, size_t outcap,
               struct transport_result *res, char *err, size_t errlen);
    /* Copies the local file to remote (written to remote.wm-tmp, then renamed,
     * so a reader never sees half a file), with the given mode. */
    int (*push)(struct transport *tp, const char *local, const char *remote, unsigned mode,
                int timeout_ms, char *err, size_t errlen);
    void (*free)(struct transport *tp);
};

struct transport {
    const struct transport_ops *ops;
};

/* --- using a transport (transport.c) --- */
int transport_run(struct transport *tp, const char *cmd, int timeout_ms, char *out, size_t outcap,
                  struct transport_result *res, char *err, size_t errlen);
int transport_push(struct transport *tp, const char *local, const char *remote, unsigned mode,
                   int timeout_ms, char *err, size_t errlen);
const char *transport_name(const struct transport *tp);
void transport_free(struct transport *tp);

/* Appends s to the shell command line in buf, single-quoted for /bin/sh.
 * 0, or -ENAMETOOLONG if buf is too small. */
int transport_shell_quote(char *buf, size_t buflen, const char *s);

/* --- the local transport (transport_local.c) --- */
struct transport *transport_local_new(char *err, size_t errlen);

/* --- for implementations: one child process, bounded --- */

/* How transport_spawn runs argv: stdin from stdin_path (NULL: /dev/null),
 * stdout into out/outcap, stderr into res->errout; the child leads its own
 * process group, which is SIGKILLed when timeout_ms passes. */
struct transport_spawn {
    const char *const *argv; /* argv[0] is an absolute path */
    const char *stdin_path;
    int timeout_ms;
};

/* 0 when the child ran to its end (status in res->exit_code); -ETIMEDOUT if
 * it was killed at the timeout (res holds what it wrote until then); other
 * negative errno if it could not be started. */
int transport_spawn_run(const struct transport_spawn *sp, char *out, size_t outcap,
                        struct transport_result *res, char *err, size_t errlen);

#endif
