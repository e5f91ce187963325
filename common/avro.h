/* avro — Avro schemas compiled into the binaries, their Parsing Canonical
 * Form and CRC-64-AVRO fingerprint, and single-object encoding:
 *
 *   C3 01 | fingerprint (8 bytes, little-endian) | Avro binary datum
 *
 * so that any Avro library holding the .avsc files under schemas/ can read what wavemill
 * writes.  Values are avro-c generic values (avro_value_t); common/msg.c
 * maps them to the C structs of msg.h.
 *
 * Decoding never trusts the input: the datum is checked against the schema
 * (every length within the buffer, union/enum indexes in range, strings
 * valid UTF-8 without NUL, no trailing bytes) before avro-c reads it.
 *
 * All functions are thread-safe.  The compiled-in schemas are parsed once,
 * on first use, and then shared read-only. */
#ifndef WM_AVRO_H
#define WM_AVRO_H

/* Not <avro.h>: with -Icommon that name resolves to this very file. */
#include <avro/errors.h>
#include <avro/generic.h>
#include <avro/io.h>
#include <avro/schema.h>
#include <avro/value.h>
#include <stddef.h>
#include <stdint.h>

/* --- compiled-in schema sources (build/gen/schemas.c, by schemas/embed.sh) --- */

struct wm_schema_src {
    const char *name; /* file name without ".avsc": "task", "status" */
    const char *json; /* the file's text */
};
/* Terminated by {NULL, NULL}; wm_schema_sources_count excludes it. */
extern const struct wm_schema_src wm_schema_sources[];
extern const size_t wm_schema_sources_count;

/* --- canonical form and fingerprint (any schema text) --- */

#define WM_AVRO_CRC64_EMPTY 0xc15d213aa4d7a795ULL

/* CRC-64-AVRO (Rabin) of len bytes; wm_avro_crc64(NULL, 0) == EMPTY. */
uint64_t wm_avro_crc64(const void *buf, size_t len);

/* Parsing Canonical Form of a JSON schema text, per the Avro specification
 * (PRIMITIVES, FULLNAMES, STRIP, ORDER, STRINGS, INTEGERS, WHITESPACE).
 * *out is malloc'd, NUL-terminated; the caller frees it.
 * Returns 0, -EINVAL (bad JSON or schema, reason in err) or -ENOMEM. */
int wm_avro_canonical(const char *json, size_t len, char **out, char *err, size_t errlen);

/* CRC-64-AVRO of the Parsing Canonical Form of json. */
int wm_avro_fingerprint(const char *json, size_t len, uint64_t *fp, char *err, size_t errlen);

/* --- compiled-in schemas --- */

struct wm_avro_schema; /* opaque, lives as long as the process */

/* By file name ("task", "status") or full name ("wavemill.Task").
 * NULL if unknown or if the compiled-in schemas failed to parse (reason in
 * err). */
const struct wm_avro_schema *wm_avro_schema_get(const char *name, char *err, size_t errlen);
const struct wm_avro_schema *wm_avro_schema_by_fingerprint(uint64_t fp);

const char *wm_avro_schema_name(const struct wm_avro_schema *s);     /* "task" */
const char *wm_avro_schema_fullname(const struct wm_avro_schema *s); /* "wavemill.Task" */
const char *wm_avro_schema_canonical(const struct wm_avro_schema *s);
uint64_t wm_avro_schema_fingerprint(const struct wm_avro_schema *s);
/* Borrowed avro-c schema (do not decref). */
avro_schema_t wm_avro_schema_avro(const struct wm_avro_schema *s);

/* A fresh generic value of schema s, to fill and encode.  The caller
 * releases it with avro_value_decref().  Returns 0 or -ENOMEM. */
int wm_avro_value_new(const struct wm_avro_schema *s, avro_value_t *out, char *err, size_t errlen);

/* --- single-object encoding --- */

#define WM_AVRO_HEADER_LEN 10
/* Upper bound on a message wavemill encodes or decodes. */
#define WM_AVRO_MAX_MSG (16u * 1024 * 1024)

/* Encodes value (of schema s) as a single-object message into a malloc'd
 * buffer *out of *len bytes; the caller frees it.  Returns 0, -EINVAL
 * (value does not match the schema), -EMSGSIZE or -ENOMEM. */
int wm_avro_encode(const struct wm_avro_schema *s, avro_value_t *value, uint8_t **out, size_t *len,
                   char *err, size_t errlen);

/* Decodes a single-object message.  If expect is not NULL the message must
 * carry that schema's fingerprint.  On success *value is a new generic value
 * (release with avro_value_decref()) and *which (if not NULL) the schema.
 * Returns 0, -EBADMSG (bad magic, truncated, malformed datum, trailing
 * bytes), -ENOENT (unknown fingerprint), -EPROTOTYPE (another schema than
 * expect) or -ENOMEM; the reason is in err. */
int wm_avro_decode(const void *buf, size_t len, const struct wm_avro_schema *expect,
                   avro_value_t *value, const struct wm_avro_schema **which, char *err,
                   size_t errlen);

/* Reads the fingerprint of a single-object message without decoding it.
 * Returns 0 or -EBADMSG. */
int wm_avro_peek_fingerprint(const void *buf, size_t len, uint64_t *fp);

#endif
