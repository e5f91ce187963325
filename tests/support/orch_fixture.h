/* Helpers the orch integration tests share to drive their shell fixtures
 * (the orch_*_fixture.sh scripts, the peers in tests/peers): run a command, read
 * its first output line, find the repository, read the fixture's
 * KEY=value file; build a task context as a worker would.  Linked into
 * the orch tests only (tests/module.mk). */
#ifndef ORCH_FIXTURE_H
#define ORCH_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "common_repo.h" /* fixture_find_repo */
#include "task.h"

/* Holds an exclusive lock on path (created if missing) for the rest of the
 * process, waiting up to wait_s seconds for another holder.  Fixtures
 * with fixed host names, namespaces and state roots take one, so two runs
 * of a test (several people share the machine) wait for each other
 * instead of tearing down each other's hosts.  0, or -1 with a line on
 * stderr. */
int fixture_lock(const char *path, int wait_s);

/* Runs a printf-formatted shell command (at most 4 KiB); returns its exit
 * status, -1 if it did not exit normally. */
int fixture_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* First line of a printf-formatted command's output, without its newline;
 * "" when there is none. */
void fixture_capture(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The KEY=value lines of <dir>/fixture.env, as a fixture script writes
 * them (at most 32; keys cut at 200 bytes, values at 500). */
struct fixture_env {
    int n;
    char kv[32][2][512];
};

/* Appends the lines of <dir>/fixture.env to env; a missing file adds none. */
void fixture_env_read(struct fixture_env *env, const char *dir);

/* The value of key; fails the running test if the fixture has none. */
const char *fixture_env_get(const struct fixture_env *env, const char *key);

/* A task context as a worker builds one when it claims a task: attempt 1,
 * worker "test-worker", cfg and conninfo borrowed, kind copied.  The
 * caller sets the rest and frees it with task_ctx_free(). */
struct task_ctx *fixture_task_new(const struct wm_config *cfg, const char *conninfo,
                                  int64_t task_id, int64_t server_id, const char *kind);

/* Appends the parameter key=value (both copied) to t's message. */
void fixture_task_param(struct task_ctx *t, const char *key, const char *value);

#endif
