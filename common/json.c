/* json — see json.h. */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wm_json {
    char *buf;
    size_t len, cap;
    int err;
    int depth;
    /* per level: 'o' object / 'a' array, and whether a member was written */
    char kind[WM_JSON_MAX_DEPTH];
    bool has_item[WM_JSON_MAX_DEPTH];
    bool after_key; /* a key was written, its value comes next (no comma) */
};

struct wm_json *wm_json_new(void)
{
    struct wm_json *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->cap = 256;
    j->buf = malloc(j->cap);
    if (!j->buf) {
        free(j);
        return NULL;
    }
    j->buf[0] = '\0';
    return j;
}

void wm_json_free(struct wm_json *j)
{
    if (!j)
        return;
    free(j->buf);
    free(j);
}

void wm_json_reset(struct wm_json *j)
{
    if (!j)
        return;
    j->len = 0;
    j->buf[0] = '\0';
    j->err = 0;
    j->depth = 0;
    j->after_key = false;
}

static void put(struct wm_json *j, const char *s, size_t n)
{
    if (j->err)
        return;
    if (j->len + n + 1 > WM_JSON_MAX_LEN) {
        j->err = -E2BIG;
        return;
    }
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (!nb) {
            j->err = -ENOMEM;
            return;
        }
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = '\0';
}

static void puts_(struct wm_json *j, const char *s)
{
    put(j, s, strlen(s));
}

/* Writes the comma a new value needs, unless it follows its key. */
static void before_value(struct wm_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->depth > 0) {
        if (j->kind[j->depth - 1] == 'o') {
            j->err = j->err ? j->err : -EINVAL; /* object member without a key */
            return;
        }
        if (j->has_item[j->depth - 1])
            put(j, ",", 1);
        j->has_item[j->depth - 1] = true;
    }
}

static void escaped(struct wm_json *j, const char *s, size_t n)
{
    size_t start = 0; /* first byte not yet copied: plain runs go in one put */
    put(j, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char u[8];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\n'  ? "\\n"
                          : c == '\r'  ? "\\r"
                          : c == '\t'  ? "\\t"
                                       : NULL;
        if (!esc && (c < 0x20 || c == 0x7f)) {
            snprintf(u, sizeof(u), "\\u%04x", c);
            esc = u;
        }
        if (!esc)
            continue;
        put(j, s + start, i - start);
        puts_(j, esc);
        start = i + 1;
    }
    put(j, s + start, n - start);
    put(j, "\"", 1);
}

static void open_(struct wm_json *j, char kind)
{
    if (!j)
        return;
    before_value(j);
    if (j->err)
        return;
    if (j->depth >= WM_JSON_MAX_DEPTH) {
        j->err = -E2BIG;
        return;
    }
    j->kind[j->depth] = kind;
    j->has_item[j->depth] = false;
    j->depth++;
    put(j, kind == 'o' ? "{" : "[", 1);
}

static void close_(struct wm_json *j, char kind)
{
    if (!j)
        return;
    if (j->err)
        return;
    if (j->depth == 0 || j->kind[j->depth - 1] != kind || j->after_key) {
        j->err = -EINVAL;
        return;
    }
    j->depth--;
    put(j, kind == 'o' ? "}" : "]", 1);
}

void wm_json_obj_begin(struct wm_json *j) { open_(j, 'o'); }
void wm_json_obj_end(struct wm_json *j) { close_(j, 'o'); }
void wm_json_arr_begin(struct wm_json *j) { open_(j, 'a'); }
void wm_json_arr_end(struct wm_json *j) { close_(j, 'a'); }

void wm_json_key(struct wm_json *j, const char *key)
{
    if (!j)
        return;
    if (j->err)
        return;
    if (j->depth == 0 || j->kind[j->depth - 1] != 'o' || j->after_key || !key) {
        j->err = -EINVAL;
        return;
    }
    if (j->has_item[j->depth - 1])
        put(j, ",", 1);
    j->has_item[j->depth - 1] = true;
    escaped(j, key, strlen(key));
    put(j, ":", 1);
    j->after_key = true;
}

void wm_json_strn(struct wm_json *j, const char *s, size_t len)
{
    if (!j)
        return;
    before_value(j);
    escaped(j, s, len);
}

void wm_json_str(struct wm_json *j, const char *s)
{
    if (!s) {
        wm_json_null(j);
        return;
    }
    wm_json_strn(j, s, strlen(s));
}

void wm_json_int(struct wm_json *j, int64_t v)
{
    if (!j)
        return;
    char b[32];
    before_value(j);
    snprintf(b, sizeof(b), "%" PRId64, v);
    puts_(j, b);
}

void wm_json_double(struct wm_json *j, double v)
{
    if (!j)
        return;
    char b[64];
    if (!isfinite(v)) {
        wm_json_null(j);
        return;
    }
    before_value(j);
    snprintf(b, sizeof(b), "%.17g", v);
    puts_(j, b);
}

void wm_json_bool(struct wm_json *j, bool v)
{
    if (!j)
        return;
    before_value(j);
    puts_(j, v ? "true" : "false");
}

void wm_json_null(struct wm_json *j)
{
    if (!j)
        return;
    before_value(j);
    puts_(j, "null");
}

void wm_json_raw(struct wm_json *j, const char *json)
{
    if (!j)
        return;
    if (!json || !*json) {
        wm_json_null(j);
        return;
    }
    before_value(j);
    puts_(j, json);
}

void wm_json_kstr(struct wm_json *j, const char *key, const char *s)
{
    wm_json_key(j, key);
    wm_json_str(j, s);
}

void wm_json_kint(struct wm_json *j, const char *key, int64_t v)
{
    wm_json_key(j, key);
    wm_json_int(j, v);
}

void wm_json_kbool(struct wm_json *j, const char *key, bool v)
{
    wm_json_key(j, key);
    wm_json_bool(j, v);
}

void wm_json_kraw(struct wm_json *j, const char *key, const char *json)
{
    wm_json_key(j, key);
    wm_json_raw(j, json);
}

int wm_json_error(const struct wm_json *j)
{
    if (!j)
        return -ENOMEM; /* wm_json_new() failed */
    if (j->err)
        return j->err;
    return (j->depth != 0 || j->after_key) ? -EINVAL : 0;
}

const char *wm_json_text(const struct wm_json *j) { return j ? j->buf : ""; }
size_t wm_json_len(const struct wm_json *j) { return j ? j->len : 0; }
