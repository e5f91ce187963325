/* msg — wavemill.Task and wavemill.StatusEvent as C structs, mapped to and
 * from avro-c generic values by field name and framed by avro.c.
 *
 * Mapping rules (msg.h <-> schemas/task.avsc, schemas/status.avsc):
 *   - a NULL char * in a required string field is encoded as "";
 *   - "may be NULL" strings and "0 = none" numbers are ["null", T] unions in
 *     the schema: NULL / 0 is encoded as null and null decodes to NULL / 0;
 *   - a NULL status event_id is replaced by a fresh random UUID (v4). */
#include "msg.h"

#include "utf8.h"

#include "avro.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* -------------------------------------------------------- field setters */

static int field(avro_value_t *rec, const char *name, avro_value_t *f)
{
    return avro_value_get_by_name(rec, name, f, NULL) == 0 ? 0 : -EINVAL;
}

/* Selects the null (or the non-null) branch of a ["null", T] union. */
static int branch(avro_value_t *u, int want_null, avro_value_t *b)
{
    avro_schema_t us = avro_value_get_schema(u);

    if (avro_typeof(us) != AVRO_UNION)
        return -EINVAL;
    for (size_t i = 0; i < avro_schema_union_size(us); i++) {
        int is_null = avro_typeof(avro_schema_union_branch(us, (int)i)) == AVRO_NULL;
        if (is_null == want_null)
            return avro_value_set_branch(u, (int)i, b) == 0 ? 0 : -EINVAL;
    }
    return -EINVAL;
}

static int set_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f;
    return field(rec, name, &f) || avro_value_set_long(&f, v) ? -EINVAL : 0;
}

static int set_int(avro_value_t *rec, const char *name, int32_t v)
{
    avro_value_t f;
    return field(rec, name, &f) || avro_value_set_int(&f, v) ? -EINVAL : 0;
}

static int set_bool(avro_value_t *rec, const char *name, bool v)
{
    avro_value_t f;
    return field(rec, name, &f) || avro_value_set_boolean(&f, v) ? -EINVAL : 0;
}

/* Avro strings are UTF-8: text that is not (a source's Latin-1 error)
 * goes out with its invalid bytes escaped (utf8.h), never refused. */
static int set_text(avro_value_t *v, const char *s)
{
    if (wm_utf8_valid(s, strlen(s)))
        return avro_value_set_string(v, s) ? -EINVAL : 0;
    char *safe = wm_utf8_dup(s);
    int rc = !safe || avro_value_set_string(v, safe) ? -EINVAL : 0;
    free(safe);
    return rc;
}

static int set_str(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f;
    return field(rec, name, &f) || set_text(&f, s ? s : "") ? -EINVAL : 0;
}

static int set_opt_str(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t f, b;

    if (field(rec, name, &f) || branch(&f, s == NULL, &b))
        return -EINVAL;
    return s && set_text(&b, s) ? -EINVAL : 0;
}

static int set_opt_long(avro_value_t *rec, const char *name, int64_t v)
{
    avro_value_t f, b;

    if (field(rec, name, &f) || branch(&f, v == 0, &b))
        return -EINVAL;
    return v && avro_value_set_long(&b, v) ? -EINVAL : 0;
}

static int set_opt_int(avro_value_t *rec, const char *name, int32_t v)
{
    avro_value_t f, b;

    if (field(rec, name, &f) || branch(&f, v == 0, &b))
        return -EINVAL;
    return v && avro_value_set_int(&b, v) ? -EINVAL : 0;
}

/* -------------------------------------------------------- field getters */

static int get_long(avro_value_t *rec, const char *name, int64_t *v)
{
    avro_value_t f;
    return field(rec, name, &f) || avro_value_get_long(&f, v) ? -EINVAL : 0;
}

static int get_int(avro_value_t *rec, const char *name, int32_t *v)
{
    avro_value_t f;
    return field(rec, name, &f) || avro_value_get_int(&f, v) ? -EINVAL : 0;
}

static int get_bool(avro_value_t *rec, const char *name, bool *v)
{
    avro_value_t f;
    int b;

    if (field(rec, name, &f) || avro_value_get_boolean(&f, &b))
        return -EINVAL;
    *v = b != 0;
    return 0;
}

static int dup_str(avro_value_t *v, char **out)
{
    const char *s;
    size_t size;

    if (avro_value_get_string(v, &s, &size))
        return -EINVAL;
    if (!(*out = strdup(s ? s : "")))
        return -ENOMEM;
    return 0;
}

static int get_str(avro_value_t *rec, const char *name, char **out)
{
    avro_value_t f;
    return field(rec, name, &f) ? -EINVAL : dup_str(&f, out);
}

/* The current branch of a ["null", T] union field; 1 if it is null. */
static int get_branch(avro_value_t *rec, const char *name, avro_value_t *b)
{
    avro_value_t f;

    if (field(rec, name, &f) || avro_value_get_current_branch(&f, b))
        return -EINVAL;
    return avro_value_get_type(b) == AVRO_NULL;
}

static int get_opt_str(avro_value_t *rec, const char *name, char **out)
{
    avro_value_t b;
    int rc = get_branch(rec, name, &b);

    *out = NULL;
    return rc ? (rc < 0 ? rc : 0) : dup_str(&b, out);
}

static int get_opt_long(avro_value_t *rec, const char *name, int64_t *v)
{
    avro_value_t b;
    int rc = get_branch(rec, name, &b);

    *v = 0;
    if (rc)
        return rc < 0 ? rc : 0;
    return avro_value_get_long(&b, v) ? -EINVAL : 0;
}

static int get_opt_int(avro_value_t *rec, const char *name, int32_t *v)
{
    avro_value_t b;
    int rc = get_branch(rec, name, &b);

    *v = 0;
    if (rc)
        return rc < 0 ? rc : 0;
    return avro_value_get_int(&b, v) ? -EINVAL : 0;
}

/* ------------------------------------------------------------- framing */

static void errf(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b);
}

typedef int (*fill_fn)(avro_value_t *rec, const void *m);

/* Builds a value of the named schema with fill() and encodes it. */
static int encode_with(const char *schema, fill_fn fill, const void *m, uint8_t **out, size_t *len,
                       char *err, size_t errlen)
{
    const struct wm_avro_schema *s = wm_avro_schema_get(schema, err, errlen);
    avro_value_t v;
    int rc;

    *out = NULL;
    *len = 0;
    if (!s)
        return -ENOENT;
    if ((rc = wm_avro_value_new(s, &v, err, errlen)) != 0)
        return rc;
    if ((rc = fill(&v, m)) != 0)
        errf(err, errlen, "cannot build %s value (%s)", wm_avro_schema_fullname(s),
             rc == -ENOMEM ? "out of memory" : "schema and msg.h disagree");
    else
        rc = wm_avro_encode(s, &v, out, len, err, errlen);
    avro_value_decref(&v);
    return rc;
}

typedef int (*extract_fn)(avro_value_t *rec, void *out);

static int decode_with(const char *schema, extract_fn extract, const void *buf, size_t len,
                       void *out, char *err, size_t errlen)
{
    const struct wm_avro_schema *s = wm_avro_schema_get(schema, err, errlen);
    avro_value_t v;
    int rc;

    if (!s)
        return -ENOENT;
    if ((rc = wm_avro_decode(buf, len, s, &v, NULL, err, errlen)) != 0)
        return rc;
    if ((rc = extract(&v, out)) != 0)
        errf(err, errlen, "cannot read %s value (%s)", wm_avro_schema_fullname(s),
             rc == -ENOMEM ? "out of memory" : "schema and msg.h disagree");
    avro_value_decref(&v);
    return rc;
}

/* ------------------------------------------------------------ Task */

static int task_fill_params(avro_value_t *rec, const struct wm_task_msg *m)
{
    avro_value_t map, elem;

    if (field(rec, "params", &map))
        return -EINVAL;
    for (size_t i = 0; i < m->nparams; i++) {
        if (!m->params[i].key)
            return -EINVAL;
        if (avro_value_add(&map, m->params[i].key, &elem, NULL, NULL) ||
            avro_value_set_string(&elem, m->params[i].value ? m->params[i].value : ""))
            return -ENOMEM;
    }
    return 0;
}

static int task_fill(avro_value_t *rec, const void *msg)
{
    const struct wm_task_msg *m = msg;

    if (set_long(rec, "task_id", m->task_id) || set_int(rec, "attempt", m->attempt) ||
        set_long(rec, "wave_id", m->wave_id) || set_str(rec, "wave", m->wave) ||
        set_long(rec, "server_id", m->server_id) || set_str(rec, "server", m->server) ||
        set_str(rec, "kind", m->kind) || set_opt_long(rec, "deadline", m->deadline_ms) ||
        set_long(rec, "published_at", m->published_ms))
        return -EINVAL;
    return task_fill_params(rec, m);
}

static int task_extract_params(avro_value_t *rec, struct wm_task_msg *m)
{
    avro_value_t map, elem;
    size_t n;
    int rc;

    if (field(rec, "params", &map) || avro_value_get_size(&map, &n))
        return -EINVAL;
    if (n == 0)
        return 0;
    if (!(m->params = calloc(n, sizeof(*m->params))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *key;
        if (avro_value_get_by_index(&map, i, &elem, &key))
            return -EINVAL;
        m->nparams = i + 1; /* so that clear() frees what is filled */
        if (!(m->params[i].key = strdup(key)))
            return -ENOMEM;
        if ((rc = dup_str(&elem, &m->params[i].value)) != 0)
            return rc;
    }
    return 0;
}

static int task_extract(avro_value_t *rec, void *out)
{
    struct wm_task_msg *m = out;
    int rc;

    if ((rc = get_long(rec, "task_id", &m->task_id)) ||
        (rc = get_int(rec, "attempt", &m->attempt)) ||
        (rc = get_long(rec, "wave_id", &m->wave_id)) || (rc = get_str(rec, "wave", &m->wave)) ||
        (rc = get_long(rec, "server_id", &m->server_id)) ||
        (rc = get_str(rec, "server", &m->server)) || (rc = get_str(rec, "kind", &m->kind)) ||
        (rc = get_opt_long(rec, "deadline", &m->deadline_ms)) ||
        (rc = get_long(rec, "published_at", &m->published_ms)))
        return rc;
    return task_extract_params(rec, m);
}

int wm_task_msg_encode(const struct wm_task_msg *m, uint8_t **out, size_t *len, char *err,
                       size_t errlen)
{
    return encode_with("task", task_fill, m, out, len, err, errlen);
}

int wm_task_msg_decode(const void *buf, size_t len, struct wm_task_msg *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int rc = decode_with("task", task_extract, buf, len, out, err, errlen);
    if (rc)
        wm_task_msg_clear(out);
    return rc;
}

void wm_task_msg_clear(struct wm_task_msg *m)
{
    if (!m)
        return;
    for (size_t i = 0; m->params && i < m->nparams; i++) {
        free(m->params[i].key);
        free(m->params[i].value);
    }
    free(m->params);
    free(m->wave);
    free(m->server);
    free(m->kind);
    memset(m, 0, sizeof(*m));
}

const char *wm_task_msg_param(const struct wm_task_msg *m, const char *key)
{
    for (size_t i = 0; m && key && i < m->nparams; i++)
        if (m->params[i].key && strcmp(m->params[i].key, key) == 0)
            return m->params[i].value;
    return NULL;
}

/* ------------------------------------------------------ StatusEvent */

/* Random (version 4) UUID text into buf[37]. */
static int uuid_v4(char buf[37])
{
    uint8_t r[16];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -EIO;
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
    return 0;
}

static int status_fill(avro_value_t *rec, const void *msg)
{
    const struct wm_status_msg *m = msg;
    char uuid[37];
    const char *id = m->event_id;

    if (!id) {
        if (uuid_v4(uuid) != 0)
            return -EIO;
        id = uuid;
    }
    if (set_str(rec, "event_id", id) || set_long(rec, "time", m->time_ms) ||
        set_str(rec, "source", m->source) || set_str(rec, "type", m->type) ||
        set_opt_str(rec, "wave", m->wave) || set_opt_str(rec, "server", m->server) ||
        set_opt_long(rec, "task_id", m->task_id) || set_opt_str(rec, "task_kind", m->task_kind) ||
        set_opt_int(rec, "attempt", m->attempt) || set_str(rec, "state", m->state) ||
        set_long(rec, "bytes_done", m->bytes_done) ||
        set_long(rec, "bytes_total", m->bytes_total) || set_opt_str(rec, "message", m->message) ||
        set_bool(rec, "simulated", m->simulated))
        return -EINVAL;
    return 0;
}

static int status_extract(avro_value_t *rec, void *out)
{
    struct wm_status_msg *m = out;
    int rc;

    if ((rc = get_str(rec, "event_id", &m->event_id)) ||
        (rc = get_long(rec, "time", &m->time_ms)) || (rc = get_str(rec, "source", &m->source)) ||
        (rc = get_str(rec, "type", &m->type)) || (rc = get_opt_str(rec, "wave", &m->wave)) ||
        (rc = get_opt_str(rec, "server", &m->server)) ||
        (rc = get_opt_long(rec, "task_id", &m->task_id)) ||
        (rc = get_opt_str(rec, "task_kind", &m->task_kind)) ||
        (rc = get_opt_int(rec, "attempt", &m->attempt)) ||
        (rc = get_str(rec, "state", &m->state)) ||
        (rc = get_long(rec, "bytes_done", &m->bytes_done)) ||
        (rc = get_long(rec, "bytes_total", &m->bytes_total)) ||
        (rc = get_opt_str(rec, "message", &m->message)) ||
        (rc = get_bool(rec, "simulated", &m->simulated)))
        return rc;
    return 0;
}

int wm_status_msg_encode(const struct wm_status_msg *m, uint8_t **out, size_t *len, char *err,
                         size_t errlen)
{
    return encode_with("status", status_fill, m, out, len, err, errlen);
}

int wm_status_msg_decode(const void *buf, size_t len, struct wm_status_msg *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int rc = decode_with("status", status_extract, buf, len, out, err, errlen);
    if (rc)
        wm_status_msg_clear(out);
    return rc;
}

void wm_status_msg_clear(struct wm_status_msg *m)
{
    if (!m)
        return;
    free(m->event_id);
    free(m->source);
    free(m->type);
    free(m->wave);
    free(m->server);
    free(m->task_kind);
    free(m->state);
    free(m->message);
    memset(m, 0, sizeof(*m));
}
