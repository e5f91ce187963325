/* json — a small streaming JSON writer into a growing buffer.
 *
 * Commas and nesting are handled by the writer, so callers only say what
 * comes next:
 *
 *   struct wm_json *j = wm_json_new();
 *   wm_json_obj_begin(j);
 *   wm_json_key(j, "name"); wm_json_str(j, "w1");
 *   wm_json_key(j, "servers"); wm_json_int(j, 20);
 *   wm_json_obj_end(j);
 *   if (wm_json_error(j) == 0) puts(wm_json_text(j));
 *   wm_json_free(j);
 *
 * Errors (out of memory, nesting deeper than WM_JSON_MAX_DEPTH, an end that
 * does not match its begin) are sticky: later calls do nothing and
 * wm_json_error() reports the first one, so callers check once at the end.
 * A NULL writer (wm_json_new() out of memory) is accepted by every call and
 * reported as -ENOMEM by wm_json_error().
 * Strings are escaped per RFC 8259; bytes are passed through as they are
 * (the caller supplies UTF-8). */
#ifndef WM_JSON_H
#define WM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_JSON_MAX_DEPTH 32
/* Bound on the text produced, so a runaway loop cannot eat memory. */
#define WM_JSON_MAX_LEN (64u * 1024 * 1024)

struct wm_json;

struct wm_json *wm_json_new(void);
void wm_json_free(struct wm_json *j);

/* --- structure --- */
void wm_json_obj_begin(struct wm_json *j);
void wm_json_obj_end(struct wm_json *j);
void wm_json_arr_begin(struct wm_json *j);
void wm_json_arr_end(struct wm_json *j);
/* Member name inside an object; the value call follows. */
void wm_json_key(struct wm_json *j, const char *key);

/* --- values --- */
void wm_json_str(struct wm_json *j, const char *s); /* NULL writes null */
void wm_json_strn(struct wm_json *j, const char *s, size_t len);
void wm_json_int(struct wm_json *j, int64_t v);
void wm_json_double(struct wm_json *j, double v); /* non-finite writes null */
void wm_json_bool(struct wm_json *j, bool v);
void wm_json_null(struct wm_json *j);
/* Already-valid JSON text (e.g. a jsonb column); NULL or "" writes null.
 * The caller vouches for its validity. */
void wm_json_raw(struct wm_json *j, const char *json);

/* --- shortcuts for "key": value --- */
void wm_json_kstr(struct wm_json *j, const char *key, const char *s);
void wm_json_kint(struct wm_json *j, const char *key, int64_t v);
void wm_json_kbool(struct wm_json *j, const char *key, bool v);
void wm_json_kraw(struct wm_json *j, const char *key, const char *json);

/* --- result --- */
/* 0, or the first error (-ENOMEM, -E2BIG, -EINVAL). */
int wm_json_error(const struct wm_json *j);
/* NUL-terminated text so far (borrowed, valid until the next call). */
const char *wm_json_text(const struct wm_json *j);
size_t wm_json_len(const struct wm_json *j);
/* Empties the writer for reuse. */
void wm_json_reset(struct wm_json *j);

#endif
