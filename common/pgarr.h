/* pgarr — a growable PostgreSQL array literal ("{1,NULL,\"a b\"}"), built
 * an element at a time, for passing a column of a batch as one text
 * parameter (unnest($1::bigint[]), ...). */
#ifndef WM_PGARR_H
#define WM_PGARR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zero-initialise; an allocation failure is remembered in oom and makes
 * wm_pgarr_end() return NULL. */
struct wm_pgarr {
    char *buf;
    size_t len, cap, n;
    bool oom;
};

/* s quoted with " and \ escaped; NULL gives a NULL element. */
void wm_pgarr_text(struct wm_pgarr *a, const char *s);
void wm_pgarr_int(struct wm_pgarr *a, int64_t v, bool null);
void wm_pgarr_bool(struct wm_pgarr *a, bool v);
/* The finished literal ("{}" when empty), owned by a; NULL when out of memory. */
const char *wm_pgarr_end(struct wm_pgarr *a);
/* Empties a for reuse, keeping its buffer. */
void wm_pgarr_reset(struct wm_pgarr *a);
void wm_pgarr_free(struct wm_pgarr *a);

#endif
