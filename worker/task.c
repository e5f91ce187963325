/* task — the handler-facing task context (see task.h). */
#include "task.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "pg.h"

void task_progress(struct task_ctx *t, int64_t done, int64_t total)
{
    atomic_store(&t->bytes_done, done);
    atomic_store(&t->bytes_total, total);
    atomic_store(&t->progress_dirty, 1);
}

void task_progress_note(struct task_ctx *t, const char *note)
{
    if (atomic_exchange(&t->note, note) != note)
        atomic_store(&t->progress_dirty, 1);
}

bool task_should_stop(const struct task_ctx *t)
{
    return atomic_load(&((struct task_ctx *)t)->stop) != 0;
}

static void fail_v(struct task_ctx *t, const char *fmt, va_list ap)
{
    char raw[sizeof(t->error)];
    vsnprintf(raw, sizeof(raw), fmt, ap);
    wm_redact(raw, t->error, sizeof(t->error));
}

int task_fail(struct task_ctx *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(t, fmt, ap);
    va_end(ap);
    return -EIO;
}

int task_fail_permanent(struct task_ctx *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(t, fmt, ap);
    va_end(ap);
    t->permanent = true;
    return -EINVAL;
}

bool task_errno_permanent(int rc)
{
    return rc == -EINVAL || rc == -EACCES || rc == -EPERM || rc == -ENOKEY ||
           rc == -EKEYREJECTED;
}

int task_checkpoint_save(struct task_ctx *t, const char *json)
{
    char err[512];
    if (!task_db(t)) {
        wm_warn("task.checkpoint_failed", "task=%lld err=\"%s\"", (long long)t->msg.task_id,
                t->error);
        return -EIO;
    }
    char id[24], att[16];
    snprintf(id, sizeof(id), "%lld", (long long)t->msg.task_id);
    snprintf(att, sizeof(att), "%d", (int)t->msg.attempt);
    const char *p[] = {id, att, t->worker_id, json};
    long rows = 0;
    if (wm_pg_exec(t->db,
                   "UPDATE tasks SET checkpoint = $4::jsonb, updated_at = now()"
                   " WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND state = 'RUNNING'",
                   4, p, &rows, err, sizeof(err)) < 0) {
        wm_warn("task.checkpoint_failed", "task=%s err=\"%s\"", id, err);
        return -EIO;
    }
    return rows == 1 ? 0 : -ESTALE;
}

const char *task_param(const struct task_ctx *t, const char *key)
{
    return wm_task_msg_param(&t->msg, key);
}

void task_ctx_free(struct task_ctx *t)
{
    if (!t)
        return;
    wm_task_msg_clear(&t->msg);
    free(t->checkpoint);
    task_server_free(t->server);
    wm_pg_free(t->db);
    free(t);
}
