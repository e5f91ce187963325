/* jsonr — a strict, bounded JSON reader (RFC 8259) into a small read-only
 * tree.  The writer is json.h; this is the other direction, for text that
 * comes from outside: operator scripts' stdout, HTTP response bodies,
 * task parameters.
 *
 *   char err[160];
 *   struct wm_jsonr *d = wm_jsonr_parse(text, len, NULL, NULL, err, sizeof(err));
 *   if (!d) { ... err is "JSON error at byte 17: ..." ... }
 *   const char *id = wm_jsonr_str(wm_jsonr_path(wm_jsonr_root(d), "instance.id"));
 *   wm_jsonr_free(d);
 *
 * Strict means: exactly one value with optional whitespace around it;
 * no trailing commas, comments, single quotes, NaN/Infinity, leading zeros
 * or leading '+'; strings are valid UTF-8 without raw control characters;
 * escapes are the eight of RFC 8259 plus \uXXXX, where a surrogate must be
 * a high one followed by a low one; duplicate keys in an object are an
 * error (different readers would pick different members); integers must
 * fit int64 and other numbers must be finite doubles (unless the caller
 * sets wide_numbers in the limits).  Every error names
 * the byte offset (0-based) where the text stopped making sense.
 *
 * Bounded means: the input length, the nesting depth and the number of
 * values are limited (struct wm_jsonr_limits, defaults below), so a hostile
 * document costs at most a small constant times its length in memory and
 * cannot exhaust the stack.
 *
 * The tree lives in one allocation arena owned by the struct wm_jsonr;
 * every pointer returned by the accessors is borrowed from it and valid
 * until wm_jsonr_free().  Accessors accept NULL and answer "absent", so
 * lookups chain without checks in between. */
#ifndef WM_JSONR_H
#define WM_JSONR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_json;

#define WM_JSONR_DEFAULT_MAX_LEN (1024u * 1024)
#define WM_JSONR_DEFAULT_MAX_DEPTH 64
#define WM_JSONR_DEFAULT_MAX_VALUES 100000u
/* Hard ceiling on max_depth whatever the caller asks: the parser recurses. */
#define WM_JSONR_DEPTH_CEILING 512

struct wm_jsonr_limits {
    size_t max_len;    /* input bytes; 0 = default */
    int max_depth;     /* nesting of arrays/objects; 0 = default */
    size_t max_values; /* values in the whole document; 0 = default */
    /* Keep an integer beyond int64 (as WM_JSONR_DOUBLE, its value rounded)
     * and a number beyond the double range (as +-HUGE_VAL) instead of
     * refusing it: for documents whose numbers are only carried, such as an
     * Avro schema's defaults, which other JSON readers accept.  The literal
     * text (wm_jsonr_num_text) is exact either way.  Default false. */
    bool wide_numbers;
};

enum wm_jsonr_type {
    WM_JSONR_ABSENT = 0, /* what lookups of a missing member/index/path return */
    WM_JSONR_NULL,
    WM_JSONR_BOOL,
    WM_JSONR_INT,    /* integer literal (no fraction/exponent), fits int64 */
    WM_JSONR_DOUBLE, /* literal with a fraction or exponent */
    WM_JSONR_STRING,
    WM_JSONR_ARRAY,
    WM_JSONR_OBJECT,
};

struct wm_jsonr;     /* a parsed document */
struct wm_jsonr_val; /* one value in it */

/* --- parse / free --- */

/* Parses len bytes of text.  lim may be NULL (defaults).  NULL on error,
 * with the reason in err ("JSON error at byte N: ...") and the offset in
 * *err_offset when that is not NULL; errno is EINVAL, E2BIG (a limit) or
 * ENOMEM. */
struct wm_jsonr *wm_jsonr_parse(const char *text, size_t len, const struct wm_jsonr_limits *lim,
                                size_t *err_offset, char *err, size_t errlen);
void wm_jsonr_free(struct wm_jsonr *d);
const struct wm_jsonr_val *wm_jsonr_root(const struct wm_jsonr *d);

/* --- inspection (all accept NULL) --- */
enum wm_jsonr_type wm_jsonr_type(const struct wm_jsonr_val *v);
const char *wm_jsonr_type_name(enum wm_jsonr_type t); /* "string", "object", … */
/* Byte offset of the value's first character in the parsed text. */
size_t wm_jsonr_offset(const struct wm_jsonr_val *v);
/* Members of an object, items of an array, bytes of a string; else 0. */
size_t wm_jsonr_len(const struct wm_jsonr_val *v);

/* --- containers --- */
/* Item i of an array, or the value of member i of an object (in document
 * order); NULL when out of range or not a container. */
const struct wm_jsonr_val *wm_jsonr_at(const struct wm_jsonr_val *v, size_t i);
/* Key of member i of an object (decoded, NUL-terminated), else NULL. */
const char *wm_jsonr_key_at(const struct wm_jsonr_val *v, size_t i);
/* Member of an object by key (O(log n)); NULL when absent or not an object. */
const struct wm_jsonr_val *wm_jsonr_get(const struct wm_jsonr_val *v, const char *key);
/* Dotted path from v: "a.b.2.c" — each segment is a member key, or a
 * decimal index when the value at that point is an array.  "" is v itself.
 * Keys containing '.' cannot be reached this way (use wm_jsonr_get). */
const struct wm_jsonr_val *wm_jsonr_path(const struct wm_jsonr_val *v, const char *path);

/* --- scalars --- */
/* A string's decoded UTF-8 as a C string; NULL when v is not a string or
 * the string holds a NUL (\u0000), which a C string would silently cut. */
const char *wm_jsonr_str(const struct wm_jsonr_val *v);
/* A string's bytes and length, NULs included; NULL when not a string. */
const char *wm_jsonr_strn(const struct wm_jsonr_val *v, size_t *len);
/* true and *out set when v is an integer. */
bool wm_jsonr_int(const struct wm_jsonr_val *v, int64_t *out);
/* true and *out set when v is a number (an integer converts). */
bool wm_jsonr_double(const struct wm_jsonr_val *v, double *out);
bool wm_jsonr_bool(const struct wm_jsonr_val *v, bool *out);
bool wm_jsonr_is_null(const struct wm_jsonr_val *v);
/* A number's literal text as it appeared (e.g. "1.50e3"), else NULL. */
const char *wm_jsonr_num_text(const struct wm_jsonr_val *v);

/* --- shortcuts --- */
/* String at path, or dflt when absent / not a string. */
const char *wm_jsonr_path_str(const struct wm_jsonr_val *v, const char *path, const char *dflt);
/* Integer at path, or dflt. */
int64_t wm_jsonr_path_int(const struct wm_jsonr_val *v, const char *path, int64_t dflt);

/* Writes v (and everything under it) with the JSON writer: re-serialising
 * a value or embedding it in a larger document.  Doubles are written as
 * their literal text, so nothing is lost. */
void wm_jsonr_write(struct wm_json *j, const struct wm_jsonr_val *v);

#endif
