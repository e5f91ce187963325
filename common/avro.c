/* avro — compiled-in schemas and Avro single-object encoding.
 *
 * Decoding checks the whole datum against the schema first (check_*), with
 * every length bounded by the bytes actually present, and only then lets
 * avro-c read it: avro-c's reader trusts lengths it reads (it would try to
 * allocate a string of 2^62 bytes) and reports errors through a global,
 * non-thread-safe buffer, so it must only ever see well-formed data. */
#include "avro.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMAS 32
#define CHECK_MAX_DEPTH 64
/* Items beyond the datum's length that arrays of zero-width items (null,
 * empty records) may hold; every other item takes at least one byte. */
#define CHECK_ZERO_WIDTH_ITEMS 1024

struct wm_avro_schema {
    const char *name;
    char *fullname;
    char *canonical;
    uint64_t fp;
    avro_schema_t schema;
    avro_value_iface_t *iface;
};

static struct wm_avro_schema registry[MAX_SCHEMAS];
static size_t registry_len;
static char registry_err[256];
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------- registry */

/* The canonical form of a named type starts with {"name":"<fullname>". */
static char *canonical_fullname(const char *canon)
{
    static const char prefix[] = "{\"name\":\"";

    if (strncmp(canon, prefix, sizeof(prefix) - 1) != 0)
        return strdup(canon); /* unnamed top-level type: its canonical text */
    const char *s = canon + sizeof(prefix) - 1;
    return strndup(s, strcspn(s, "\""));
}

static int registry_add(const struct wm_schema_src *src)
{
    struct wm_avro_schema *s = &registry[registry_len];
    char err[200];
    size_t len = strlen(src->json);

    s->name = src->name;
    if (wm_avro_canonical(src->json, len, &s->canonical, err, sizeof(err)) != 0) {
        seterr(registry_err, sizeof(registry_err), "schema %s: %s", src->name, err);
        return -EINVAL;
    }
    s->fp = wm_avro_crc64(s->canonical, strlen(s->canonical));
    if (!(s->fullname = canonical_fullname(s->canonical)))
        return -ENOMEM;
    for (size_t i = 0; i < registry_len; i++)
        if (registry[i].fp == s->fp || strcmp(registry[i].fullname, s->fullname) == 0) {
            seterr(registry_err, sizeof(registry_err), "schemas %s and %s clash", registry[i].name,
                   src->name);
            return -EINVAL;
        }
    if (avro_schema_from_json_length(src->json, len, &s->schema) != 0) {
        seterr(registry_err, sizeof(registry_err), "schema %s: avro-c: %s", src->name,
               avro_strerror());
        return -EINVAL;
    }
    if (!(s->iface = avro_generic_class_from_schema(s->schema)))
        return -ENOMEM;
    registry_len++;
    return 0;
}

/* Schemas live for the whole process: nothing here is ever freed. */
static void registry_init(void)
{
    if (wm_schema_sources_count > MAX_SCHEMAS) {
        seterr(registry_err, sizeof(registry_err), "more than %d schemas", MAX_SCHEMAS);
        return;
    }
    for (size_t i = 0; i < wm_schema_sources_count; i++) {
        if (registry_add(&wm_schema_sources[i]) != 0) {
            if (!registry_err[0])
                seterr(registry_err, sizeof(registry_err), "out of memory");
            registry_len = 0; /* all or nothing */
            return;
        }
    }
}

static bool registry_ready(char *err, size_t errlen)
{
    pthread_once(&registry_once, registry_init);
    if (registry_err[0]) {
        seterr(err, errlen, "compiled-in schemas unusable: %s", registry_err);
        return false;
    }
    return true;
}

const struct wm_avro_schema *wm_avro_schema_get(const char *name, char *err, size_t errlen)
{
    if (!registry_ready(err, errlen))
        return NULL;
    for (size_t i = 0; name && i < registry_len; i++)
        if (strcmp(registry[i].name, name) == 0 || strcmp(registry[i].fullname, name) == 0)
            return &registry[i];
    seterr(err, errlen, "no compiled-in schema named %s", name ? name : "(null)");
    return NULL;
}

const struct wm_avro_schema *wm_avro_schema_by_fingerprint(uint64_t fp)
{
    if (!registry_ready(NULL, 0))
        return NULL;
    for (size_t i = 0; i < registry_len; i++)
        if (registry[i].fp == fp)
            return &registry[i];
    return NULL;
}

const char *wm_avro_schema_name(const struct wm_avro_schema *s)
{
    return s->name;
}
const char *wm_avro_schema_fullname(const struct wm_avro_schema *s)
{
    return s->fullname;
}
const char *wm_avro_schema_canonical(const struct wm_avro_schema *s)
{
    return s->canonical;
}
uint64_t wm_avro_schema_fingerprint(const struct wm_avro_schema *s)
{
    return s->fp;
}
avro_schema_t wm_avro_schema_avro(const struct wm_avro_schema *s)
{
    return s->schema;
}

int wm_avro_value_new(const struct wm_avro_schema *s, avro_value_t *out, char *err, size_t errlen)
{
    if (avro_generic_value_new(s->iface, out) != 0) {
        seterr(err, errlen, "out of memory creating a %s value", s->fullname);
        return -ENOMEM;
    }
    return 0;
}

/* ----------------------------------------------------- datum validation */

struct cursor {
    const uint8_t *p, *end;
    size_t zero_width_budget;
    const char *why; /* first problem found */
};

static bool fail(struct cursor *c, const char *why)
{
    if (!c->why)
        c->why = why;
    return false;
}

static size_t left(const struct cursor *c)
{
    return (size_t)(c->end - c->p);
}

/* Zig-zag varint of at most maxbytes bytes (5 for int, 10 for long). */
static bool read_varint(struct cursor *c, int maxbytes, int64_t *out)
{
    uint64_t v = 0;

    for (int i = 0; i < maxbytes; i++) {
        if (c->p >= c->end)
            return fail(c, "truncated varint");
        uint8_t b = *c->p++;
        if (i == 9 && b > 1)
            return fail(c, "varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return true;
        }
    }
    return fail(c, "varint too long");
}

static bool read_int(struct cursor *c, int64_t *out)
{
    if (!read_varint(c, 5, out))
        return false;
    if (*out < INT32_MIN || *out > INT32_MAX)
        return fail(c, "int out of range");
    return true;
}

/* A length prefix that the remaining bytes can satisfy. */
static bool read_len(struct cursor *c, size_t *out)
{
    int64_t n;

    if (!read_varint(c, 10, &n))
        return false;
    if (n < 0)
        return fail(c, "negative length");
    if ((uint64_t)n > left(c))
        return fail(c, "length beyond the end of the message");
    *out = (size_t)n;
    return true;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF) and
 * no NUL, which C strings cannot carry. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t b = s[i];
        size_t k = b < 0x80                 ? 0
                   : b >= 0xc2 && b <= 0xdf ? 1
                   : (b & 0xf0) == 0xe0     ? 2
                   : b >= 0xf0 && b <= 0xf4 ? 3
                                            : 9;
        if (b == 0 || k == 9 || n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        if ((b == 0xe0 && s[i + 1] < 0xa0) || (b == 0xed && s[i + 1] > 0x9f) ||
            (b == 0xf0 && s[i + 1] < 0x90) || (b == 0xf4 && s[i + 1] > 0x8f))
            return false;
        i += k + 1;
    }
    return true;
}

static bool check_bytes(struct cursor *c, bool text)
{
    size_t n;

    if (!read_len(c, &n))
        return false;
    if (text && !utf8_ok(c->p, n))
        return fail(c, "string is not UTF-8 or contains NUL");
    c->p += n;
    return true;
}

static bool check_fixed_width(struct cursor *c, size_t n)
{
    if (left(c) < n)
        return fail(c, "truncated value");
    c->p += n;
    return true;
}

static bool check_datum(struct cursor *c, avro_schema_t s, int depth);

/* Block count of an array or map; 0 ends the sequence.  A negative count
 * is followed by the block's size in bytes (*bytes, else SIZE_MAX). */
static bool read_block_count(struct cursor *c, int64_t *count, size_t *bytes)
{
    *bytes = SIZE_MAX;
    if (!read_varint(c, 10, count))
        return false;
    if (*count == INT64_MIN)
        return fail(c, "bad block count");
    if (*count < 0) {
        *count = -*count;
        if (!read_len(c, bytes))
            return false;
    }
    return true;
}

/* Arrays and maps: blocks of items, each bounded by what the message holds. */
static bool check_blocks(struct cursor *c, avro_schema_t items, bool map, int depth)
{
    int64_t count;
    size_t bytes;

    for (;;) {
        if (!read_block_count(c, &count, &bytes))
            return false;
        if (count == 0)
            return true;
        const uint8_t *start = c->p;
        if ((uint64_t)count > left(c)) {
            if ((uint64_t)count > left(c) + c->zero_width_budget)
                return fail(c, "block count beyond the end of the message");
            c->zero_width_budget -= (size_t)count - left(c);
        }
        for (int64_t i = 0; i < count; i++)
            if ((map && !check_bytes(c, true)) || !check_datum(c, items, depth + 1))
                return false;
        if (bytes != SIZE_MAX && (size_t)(c->p - start) != bytes)
            return fail(c, "block size does not match its items");
    }
}

static bool check_record(struct cursor *c, avro_schema_t s, int depth)
{
    size_t n = avro_schema_record_size(s);

    for (size_t i = 0; i < n; i++)
        if (!check_datum(c, avro_schema_record_field_get_by_index(s, (int)i), depth + 1))
            return false;
    return true;
}

/* An enum index (int) or union branch (long) below limit. */
static bool check_index(struct cursor *c, int maxbytes, int64_t limit, const char *why,
                        int64_t *idx)
{
    if (!read_varint(c, maxbytes, idx))
        return false;
    if (*idx < 0 || *idx >= limit)
        return fail(c, why);
    return true;
}

static bool check_datum(struct cursor *c, avro_schema_t s, int depth)
{
    int64_t idx;

    if (depth > CHECK_MAX_DEPTH)
        return fail(c, "datum nested too deep");
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return true;
    case AVRO_BOOLEAN:
        if (left(c) < 1 || *c->p > 1)
            return fail(c, "bad boolean");
        c->p++;
        return true;
    case AVRO_INT32:
        return read_int(c, &idx);
    case AVRO_INT64:
        return read_varint(c, 10, &idx);
    case AVRO_FLOAT:
        return check_fixed_width(c, 4);
    case AVRO_DOUBLE:
        return check_fixed_width(c, 8);
    case AVRO_STRING:
        return check_bytes(c, true);
    case AVRO_BYTES:
        return check_bytes(c, false);
    case AVRO_FIXED:
        return check_fixed_width(c, (size_t)avro_schema_fixed_size(s));
    case AVRO_ENUM:
        return check_index(c, 5, avro_schema_enum_number_of_symbols(s), "enum index out of range",
                           &idx);
    case AVRO_UNION:
        return check_index(c, 10, (int64_t)avro_schema_union_size(s), "union branch out of range",
                           &idx) &&
               check_datum(c, avro_schema_union_branch(s, (int)idx), depth + 1);
    case AVRO_RECORD:
        return check_record(c, s, depth);
    case AVRO_ARRAY:
        return check_blocks(c, avro_schema_array_items(s), false, depth);
    case AVRO_MAP:
        return check_blocks(c, avro_schema_map_values(s), true, depth);
    case AVRO_LINK:
        return check_datum(c, avro_schema_link_target(s), depth + 1);
    default:
        return fail(c, "unsupported schema type");
    }
}

/* ------------------------------------------------- single-object format */

int wm_avro_encode(const struct wm_avro_schema *s, avro_value_t *value, uint8_t **out, size_t *len,
                   char *err, size_t errlen)
{
    size_t size;
    uint8_t *buf;

    *out = NULL;
    *len = 0;
    avro_schema_t vs = avro_value_get_schema(value);
    if (vs != s->schema && !avro_schema_equal(vs, s->schema)) {
        seterr(err, errlen, "value is not a %s", s->fullname);
        return -EINVAL;
    }
    if (avro_value_sizeof(value, &size) != 0) {
        seterr(err, errlen, "cannot size %s value (incomplete?)", s->fullname);
        return -EINVAL;
    }
    if (size > WM_AVRO_MAX_MSG - WM_AVRO_HEADER_LEN) {
        seterr(err, errlen, "%s message of %zu bytes exceeds the limit", s->fullname, size);
        return -EMSGSIZE;
    }
    if (!(buf = malloc(size + WM_AVRO_HEADER_LEN))) {
        seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    buf[0] = 0xc3;
    buf[1] = 0x01;
    for (int i = 0; i < 8; i++)
        buf[2 + i] = (uint8_t)(s->fp >> (8 * i));
    avro_writer_t w = avro_writer_memory((const char *)buf + WM_AVRO_HEADER_LEN, (int64_t)size);
    int rc = w ? avro_value_write(w, value) : ENOMEM;
    if (w)
        avro_writer_free(w);
    if (rc != 0) {
        free(buf);
        seterr(err, errlen, "cannot encode %s value", s->fullname);
        return rc == ENOMEM ? -ENOMEM : -EINVAL;
    }
    *out = buf;
    *len = size + WM_AVRO_HEADER_LEN;
    return 0;
}

int wm_avro_peek_fingerprint(const void *buf, size_t len, uint64_t *fp)
{
    const uint8_t *p = buf;

    if (!buf || len < WM_AVRO_HEADER_LEN || p[0] != 0xc3 || p[1] != 0x01)
        return -EBADMSG;
    *fp = 0;
    for (int i = 0; i < 8; i++)
        *fp |= (uint64_t)p[2 + i] << (8 * i);
    return 0;
}

/* Finds the message's schema; 0 or a negative errno with err set. */
static int decode_header(const void *buf, size_t len, const struct wm_avro_schema *expect,
                         const struct wm_avro_schema **s, char *err, size_t errlen)
{
    uint64_t fp;

    if (!registry_ready(err, errlen))
        return -ENOENT;
    if (len > WM_AVRO_MAX_MSG) {
        seterr(err, errlen, "message of %zu bytes exceeds the limit", len);
        return -EBADMSG;
    }
    if (wm_avro_peek_fingerprint(buf, len, &fp) != 0) {
        seterr(err, errlen, "not an Avro single-object message (%zu bytes, %s)", len,
               len < WM_AVRO_HEADER_LEN ? "too short" : "bad magic");
        return -EBADMSG;
    }
    if (!(*s = wm_avro_schema_by_fingerprint(fp))) {
        seterr(err, errlen, "unknown schema fingerprint %016llx", (unsigned long long)fp);
        return -ENOENT;
    }
    if (expect && *s != expect) {
        seterr(err, errlen, "expected a %s message, got %s", expect->fullname, (*s)->fullname);
        return -EPROTOTYPE;
    }
    return 0;
}

int wm_avro_decode(const void *buf, size_t len, const struct wm_avro_schema *expect,
                   avro_value_t *value, const struct wm_avro_schema **which, char *err,
                   size_t errlen)
{
    const struct wm_avro_schema *s;
    int rc = decode_header(buf, len, expect, &s, err, errlen);

    if (rc)
        return rc;
    const uint8_t *datum = (const uint8_t *)buf + WM_AVRO_HEADER_LEN;
    size_t n = len - WM_AVRO_HEADER_LEN;
    struct cursor c = {.p = datum, .end = datum + n, .zero_width_budget = CHECK_ZERO_WIDTH_ITEMS};
    if (!check_datum(&c, s->schema, 0) || c.p != c.end) {
        seterr(err, errlen, "malformed %s message: %s at byte %zu", s->fullname,
               c.why ? c.why : "trailing bytes", (size_t)(c.p - datum) + WM_AVRO_HEADER_LEN);
        return -EBADMSG;
    }
    if ((rc = wm_avro_value_new(s, value, err, errlen)) != 0)
        return rc;
    avro_reader_t r = avro_reader_memory((const char *)datum, (int64_t)n);
    rc = r ? avro_value_read(r, value) : ENOMEM;
    if (r)
        avro_reader_free(r);
    if (rc != 0) {
        avro_value_decref(value);
        seterr(err, errlen, "cannot decode %s message", s->fullname);
        return rc == ENOMEM ? -ENOMEM : -EBADMSG;
    }
    if (which)
        *which = s;
    return 0;
}
