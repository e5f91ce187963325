/* provider_exec — the "exec" target provider: each provider step runs an
 * operator script instead of calling a cloud API, the way a migration
 * factory's automation packages do.  docs/provider-exec.md is the
 * operator-facing copy of this contract.
 *
 * THE CONTRACT
 *
 *   argv:   [script, STEP]
 *           STEP is one of check_target, launch_test, launch_cutover,
 *           check_test, check_cutover, post_cutover, cmdb_update,
 *           terminate_test, terminate_cutover (new steps may be added).
 *   stdin:  /dev/null
 *   env:    from the worker's environment only PATH, HOME, USER, LOGNAME,
 *           SHELL, LANG, LANGUAGE, LC_*, TZ, TMPDIR, TERM (its settings and
 *           secrets — WAVEMILL_*, AWS_*, WM_* — stay private), plus:
 *             WM_STEP                     STEP again
 *             WM_WAVE, WM_SERVER          wave and server names
 *             WM_SERVER_FQDN              the server's FQDN ("" if unknown)
 *             WM_INSTANCE_TYPE, WM_SUBNET_ID
 *             WM_SECURITY_GROUP_IDS       comma-separated, live groups
 *             WM_TEST_SECURITY_GROUP_IDS  comma-separated, isolated test groups
 *             WM_TAGS                     JSON object, e.g. {"wave":"w1"}
 *             WM_TARGET_VOLUMES           JSON array of the replicated volumes
 *             WM_INSTANCE_ID              instance from the launch step ("" before)
 *             WM_TASK_ID, WM_ATTEMPT      for the script's own logs
 *             WM_CLIENT_TOKEN             stable per task and step, the same on
 *                                         every attempt: a script that launches
 *                                         looks for an instance carrying this
 *                                         token first, so a retried launch never
 *                                         launches twice (idempotency)
 *   cwd:    the worker's
 *   stdout: exactly one JSON object (at most 1 MiB), e.g.
 *             {"instance_id":"i-123","address":"10.0.0.5"}
 *           launch steps must return "instance_id"; other keys are kept
 *           for the caller ("address" is used by validation probes).
 *   stderr: free text for humans; the last 2 KiB are kept and quoted
 *           (redacted of secrets) in the task error when the step fails.
 *   exit:   0 = step done.  Non-zero exit, death by a signal, stdout that
 *           is not one JSON object → the step failed; the error names the
 *           script and the step.
 *   time:   the step is bounded (default 300 s): past it the script's
 *           whole process group gets SIGTERM, then SIGKILL 2 s later.  The
 *           script runs in a process group of its own; processes it leaves
 *           behind in that group when it exits are killed too, so a step
 *           never outlives its task.
 */
#ifndef WM_PROVIDER_EXEC_H
#define WM_PROVIDER_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"

struct wm_jsonr;

#define PROVIDER_EXEC_DEFAULT_TIMEOUT_MS (300 * 1000)
#define PROVIDER_EXEC_MAX_STDOUT (1024 * 1024)
#define PROVIDER_EXEC_STDERR_KEEP 2048
#define PROVIDER_EXEC_TOKEN_LEN 40 /* "wm-" + 32 hex + NUL, with room */

/* One step to run.  Every string is borrowed; NULL is passed as "". */
struct provider_exec_req {
    const char *script; /* path of the operator script (executable) */
    const char *step;   /* STEP, e.g. "launch_test" */
    const char *wave, *server, *server_fqdn;
    const char *instance_type, *subnet_id;
    const char *security_group_ids, *test_security_group_ids;
    const char *tags_json;           /* NULL → "{}" */
    const char *target_volumes_json; /* NULL → "[]" */
    const char *instance_id;
    int64_t task_id;
    int32_t attempt;
    int timeout_ms; /* 0 → PROVIDER_EXEC_DEFAULT_TIMEOUT_MS */
};

/* Runs the step.  0 with *out the parsed stdout object (owned by the
 * caller: wm_jsonr_free), or a negative errno (-ETIMEDOUT, -EPROTO for bad
 * output, -EIO for a failed exit, -ENOENT/-EACCES when the script cannot be
 * started) with a one-line reason in err naming the script and the step. */
int provider_exec_run(const struct provider_exec_req *r, struct wm_jsonr **out, char *err,
                      size_t errlen);

/* The WM_CLIENT_TOKEN for a task's step: "wm-" and 32 hex digits of
 * SHA-256 over (task id, server, step).  The attempt is left out on
 * purpose: every attempt of a task gets the same token. */
void provider_exec_client_token(int64_t task_id, const char *server, const char *step, char *out,
                                size_t outlen);

/* The provider driver table over task params (the scheduler puts them in
 * the task): exec_script (required), exec_timeout_s, fqdn, instance_type,
 * subnet_id, security_group_ids, test_security_group_ids, tags (JSON),
 * target_volumes (JSON), instance_id.  Registered as "exec" by driver.c. */
extern const struct provider_driver provider_exec_driver;

#endif
