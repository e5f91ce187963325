/* utf8 — text that leaves the process is valid UTF-8.
 *
 * PostgreSQL (a UTF8 database), Avro strings and JSON consumers refuse
 * invalid byte sequences, and a source whose locale prints Latin-1 (or a
 * binary that writes garbage to stderr) hands us exactly that.  Rather than
 * lose the text, every byte that is not part of a valid sequence becomes the
 * four characters "\xNN"; bounding never cuts a multi-byte character. */
#ifndef WM_UTF8_H
#define WM_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence at s (n bytes available), or 0
 * when the byte at s does not start one (overlong forms, surrogates and code
 * points above U+10FFFF are invalid, as PostgreSQL has them). */
size_t wm_utf8_seq(const unsigned char *s, size_t n);

/* true when the n bytes at s are valid UTF-8 without NUL. */
bool wm_utf8_valid(const char *s, size_t n);

/* Copies the NUL-terminated src into dst (dstlen > 0, always terminated),
 * escaping invalid bytes as "\xNN" and stopping before a character or escape
 * that would not fit whole.  Returns the length written. */
size_t wm_utf8_sanitize(const char *src, char *dst, size_t dstlen);

/* A malloc'd sanitized copy of src with no length bound, or NULL on ENOMEM. */
char *wm_utf8_dup(const char *src);

#endif
