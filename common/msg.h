/* msg — the two Kafka message types, as C structs, encoded with Avro
 * single-object encoding by avro.c (schemas/task.avsc, schemas/status.avsc).
 *
 * Strings in a decoded message are owned by the struct: free them with
 * wm_*_msg_clear().  Encoders borrow the struct and return a malloc'd
 * buffer the caller frees.
 *
 * Encoding rules: a NULL string in a field not marked "may be NULL" is sent
 * as ""; "may be NULL" and "0 = none" fields are nullable in the schema and
 * decode back to NULL / 0; wm_status_msg_encode() sends a fresh random UUID
 * when event_id is NULL; of params with the same key the last one wins.
 * Decoders return 0, or a negative errno with the reason in err: -EBADMSG
 * (malformed, truncated, trailing bytes), -ENOENT (unknown schema
 * fingerprint), -EPROTOTYPE (a message of the other type); on error *out is
 * left cleared.  All functions are thread-safe. */
#ifndef WM_MSG_H
#define WM_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_kv {
    char *key;
    char *value;
};

/* wavemill.Task — one attempt of one task, published by the scheduler. */
struct wm_task_msg {
    int64_t task_id;
    int32_t attempt;
    int64_t wave_id;
    char *wave;        /* wave name */
    int64_t server_id;
    char *server;      /* server name */
    char *kind;        /* "initial_sync", … */
    struct wm_kv *params;
    size_t nparams;
    int64_t deadline_ms;  /* unix ms; 0 = none */
    int64_t published_ms; /* unix ms when the scheduler published it */
};

/* wavemill.StatusEvent — news on wm.status. */
struct wm_status_msg {
    char *event_id;    /* UUID text */
    int64_t time_ms;   /* unix ms */
    char *source;      /* "worker:<id>", "scheduler:<id>", "cli" */
    char *type;        /* "task", "progress", "server", "wave" */
    char *wave;        /* may be NULL */
    char *server;      /* may be NULL */
    int64_t task_id;   /* 0 = none */
    char *task_kind;   /* may be NULL */
    int32_t attempt;   /* 0 = none */
    char *state;       /* task state, server lifecycle state or wave status */
    int64_t bytes_done;
    int64_t bytes_total;
    char *message;     /* may be NULL; already redacted by the sender */
    bool simulated;    /* produced by the sim driver */
};

int wm_task_msg_encode(const struct wm_task_msg *m, uint8_t **out, size_t *len, char *err,
                       size_t errlen);
int wm_task_msg_decode(const void *buf, size_t len, struct wm_task_msg *out, char *err,
                       size_t errlen);
void wm_task_msg_clear(struct wm_task_msg *m);
const char *wm_task_msg_param(const struct wm_task_msg *m, const char *key); /* NULL if absent */

int wm_status_msg_encode(const struct wm_status_msg *m, uint8_t **out, size_t *len, char *err,
                         size_t errlen);
int wm_status_msg_decode(const void *buf, size_t len, struct wm_status_msg *out, char *err,
                         size_t errlen);
void wm_status_msg_clear(struct wm_status_msg *m);

#endif
