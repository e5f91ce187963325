/* log — one line per event: timestamp, level, component, event, key=value.
 *
 *   2026-11-21T22:50:01.123Z level=info comp=worker event=task.claimed task=42 attempt=1
 *
 * Values are formatted by the caller (printf-style); the logger keeps every
 * event on one line (control characters are escaped) and replaces any
 * registered secret value with "***" before anything is written, so a secret
 * cannot reach the log even by mistake.  Secrets travel as wm_secret, which
 * has no printable member: code must call wm_secret_reveal() to use one. */
#ifndef WM_LOG_H
#define WM_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum wm_log_level { WM_LOG_DEBUG, WM_LOG_INFO, WM_LOG_WARN, WM_LOG_ERROR };

/* --- setup (call from main before threads start) --- */
void wm_log_set_level(enum wm_log_level level);
int wm_log_parse_level(const char *name, enum wm_log_level *out);
void wm_log_set_component(const char *component); /* borrowed, must outlive logging */
void wm_log_set_stream(FILE *stream);             /* default stderr */

/* --- events --- */
void wm_log(enum wm_log_level level, const char *event, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));
void wm_logv(enum wm_log_level level, const char *event, const char *fields_fmt, va_list ap);

#define wm_debug(ev, ...) wm_log(WM_LOG_DEBUG, ev, __VA_ARGS__)
#define wm_info(ev, ...) wm_log(WM_LOG_INFO, ev, __VA_ARGS__)
#define wm_warn(ev, ...) wm_log(WM_LOG_WARN, ev, __VA_ARGS__)
#define wm_error(ev, ...) wm_log(WM_LOG_ERROR, ev, __VA_ARGS__)

/* --- secrets --- */

/* A secret value.  Opaque on purpose: there is no field to pass to printf. */
typedef struct wm_secret wm_secret;

/* Copies len bytes of value; registers it for redaction.  NULL on ENOMEM. */
wm_secret *wm_secret_new(const void *value, size_t len);
/* Wipes and frees, and releases the value's redaction entry once no other
 * secret holds it (nor wm_log_register_secret()).  NULL is a no-op. */
void wm_secret_free(wm_secret *s);
/* Borrowed pointer to the NUL-terminated value and its length. */
const char *wm_secret_reveal(const wm_secret *s, size_t *len);

/* Registers a value that must never appear in log output (copied).  Values
 * shorter than 4 bytes are ignored (they would redact ordinary text).
 * Such a value stays registered for the life of the process (no cap).
 * Returns 0, or -ENOMEM. */
int wm_log_register_secret(const char *value);

/* Distinct values in the redaction registry (for tests and metrics). */
size_t wm_log_secret_count(void);

/* Copies src into dst (size dstlen, always NUL-terminated), replacing every
 * registered secret with "***" and escaping control characters.  Usable for
 * any text leaving the process: status messages, task errors, JSON output.
 * Returns the length written. */
size_t wm_redact(const char *src, char *dst, size_t dstlen);

#endif
