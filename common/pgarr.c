/* pgarr — see pgarr.h. */
#include "pgarr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(struct wm_pgarr *a, const char *s, size_t n)
{
    if (a->oom)
        return;
    if (a->len + n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + n + 2)
            cap *= 2;
        char *nb = realloc(a->buf, cap);
        if (!nb) {
            a->oom = true;
            return;
        }
        a->buf = nb;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, s, n);
    a->len += n;
}

static void sep(struct wm_pgarr *a)
{
    put(a, a->n++ ? "," : "{", 1);
}

void wm_pgarr_text(struct wm_pgarr *a, const char *s)
{
    sep(a);
    if (!s) {
        put(a, "NULL", 4);
        return;
    }
    put(a, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            put(a, "\\", 1);
        put(a, s, 1);
    }
    put(a, "\"", 1);
}

void wm_pgarr_int(struct wm_pgarr *a, int64_t v, bool null)
{
    char b[24];
    int n = null ? snprintf(b, sizeof(b), "NULL") : snprintf(b, sizeof(b), "%" PRId64, v);
    sep(a);
    put(a, b, (size_t)n);
}

void wm_pgarr_bool(struct wm_pgarr *a, bool v)
{
    sep(a);
    put(a, v ? "t" : "f", 1);
}

const char *wm_pgarr_end(struct wm_pgarr *a)
{
    if (a->n == 0)
        put(a, "{", 1);
    put(a, "}", 1);
    if (a->oom)
        return NULL;
    a->buf[a->len] = '\0'; /* put() always leaves room for it */
    return a->buf;
}

void wm_pgarr_reset(struct wm_pgarr *a)
{
    a->len = a->n = 0;
}

void wm_pgarr_free(struct wm_pgarr *a)
{
    free(a->buf);
    *a = (struct wm_pgarr){0};
}
