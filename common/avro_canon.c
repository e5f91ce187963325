/* avro_canon — Parsing Canonical Form and CRC-64-AVRO fingerprint of an Avro
 * schema text, following the "Parsing Canonical Form for Schemas" and
 * "Schema Fingerprints" sections of the Avro specification.
 *
 * avro-c has neither, and its parsed schema objects lose details the form
 * depends on, so the schema JSON is read with jsonr (strict, bounded) into a
 * tree and the canonical text is written from that tree. */
#include "avro.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"

#define CANON_MAX_DEPTH 64
#define CANON_MAX_INPUT (1024 * 1024)

/* ------------------------------------------------------------------ CRC */

static uint64_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (WM_AVRO_CRC64_EMPTY & -(fp & 1));
        crc_table[i] = fp;
    }
}

uint64_t wm_avro_crc64(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t fp = WM_AVRO_CRC64_EMPTY;

    pthread_once(&crc_once, crc_init);
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ crc_table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* ------------------------------------------------------------ canonical */

struct canon {
    char *out;
    size_t len, cap;
    int rc; /* first error: -EINVAL or -ENOMEM */
    char *err;
    size_t errlen;
};

static void cerr(struct canon *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cerr(struct canon *c, int rc, const char *fmt, ...)
{
    va_list ap;

    if (c->rc)
        return;
    c->rc = rc;
    if (c->err && c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
}

static bool cput(struct canon *c, const char *s)
{
    size_t n = strlen(s);

    if (c->len + n + 1 > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        while (ncap < c->len + n + 1)
            ncap *= 2;
        char *nb = realloc(c->out, ncap);
        if (!nb) {
            cerr(c, -ENOMEM, "out of memory");
            return false;
        }
        c->out = nb;
        c->cap = ncap;
    }
    memcpy(c->out + c->len, s, n + 1);
    c->len += n;
    return true;
}

/* A JSON string literal, escaping only what JSON requires. */
static bool cstr(struct canon *c, const char *s)
{
    char esc[8];

    if (!cput(c, "\""))
        return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            snprintf(esc, sizeof(esc), "\\%c", ch);
        else if (ch < 0x20)
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
        else
            esc[0] = (char)ch, esc[1] = '\0';
        if (!cput(c, esc))
            return false;
    }
    return cput(c, "\"");
}

static bool is_primitive(const char *s)
{
    static const char *const prims[] = {"null",  "boolean", "int",   "long",
                                        "float", "double",  "bytes", "string"};
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (strcmp(s, prims[i]) == 0)
            return true;
    return false;
}

/* Avro name: [A-Za-z_][A-Za-z0-9_]*, dotted if dots is set.  NULL (a string
 * holding \u0000, see wm_jsonr_str) is not a name. */
static bool valid_name(const char *s, bool dots)
{
    bool start = true;

    if (!s || !*s)
        return false;
    for (; *s; s++) {
        char ch = *s;
        bool alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
        if (dots && ch == '.' && !start) {
            start = true;
            continue;
        }
        if (!alpha && !(!start && ch >= '0' && ch <= '9'))
            return false;
        start = false;
    }
    return !start;
}

/* FULLNAMES: name resolved against the enclosing namespace ns (may be ""). */
static char *fullname(const char *name, const char *ns)
{
    char *f;

    if (strchr(name, '.') || !ns || !*ns)
        return strdup(name);
    if (asprintf(&f, "%s.%s", ns, name) < 0)
        return NULL;
    return f;
}

static bool canon_schema(struct canon *c, const struct wm_jsonr_val *n, const char *ns, int depth);

/* A type given by name: a primitive or a reference to a named type.  s is
 * NULL for a string holding \u0000. */
static bool canon_name_ref(struct canon *c, const char *s, const char *ns)
{
    if (s && is_primitive(s))
        return cstr(c, s);
    if (!valid_name(s, true)) {
        cerr(c, -EINVAL, "bad type name \"%.60s\"", s ? s : "(holds \\u0000)");
        return false;
    }
    char *f = fullname(s, ns);
    if (!f) {
        cerr(c, -ENOMEM, "out of memory");
        return false;
    }
    bool ok = cstr(c, f);
    free(f);
    return ok;
}

static bool canon_union(struct canon *c, const struct wm_jsonr_val *n, const char *ns, int depth)
{
    if (!cput(c, "["))
        return false;
    for (size_t i = 0; i < wm_jsonr_len(n); i++)
        if ((i && !cput(c, ",")) || !canon_schema(c, wm_jsonr_at(n, i), ns, depth + 1))
            return false;
    return cput(c, "]");
}

static bool canon_fields(struct canon *c, const struct wm_jsonr_val *fields, const char *ns,
                         int depth)
{
    if (wm_jsonr_type(fields) != WM_JSONR_ARRAY) {
        cerr(c, -EINVAL, "record without a \"fields\" array");
        return false;
    }
    if (!cput(c, ",\"fields\":["))
        return false;
    for (size_t i = 0; i < wm_jsonr_len(fields); i++) {
        const struct wm_jsonr_val *f = wm_jsonr_at(fields, i);
        const char *name = wm_jsonr_str(wm_jsonr_get(f, "name"));
        const struct wm_jsonr_val *type = wm_jsonr_get(f, "type");
        if (!valid_name(name, false) || !type) {
            cerr(c, -EINVAL, "record field %zu needs a valid \"name\" and a \"type\"", i);
            return false;
        }
        if ((i && !cput(c, ",")) || !cput(c, "{\"name\":") || !cstr(c, name) ||
            !cput(c, ",\"type\":") || !canon_schema(c, type, ns, depth + 1) || !cput(c, "}"))
            return false;
    }
    return cput(c, "]");
}

static bool canon_symbols(struct canon *c, const struct wm_jsonr_val *syms)
{
    if (wm_jsonr_type(syms) != WM_JSONR_ARRAY) {
        cerr(c, -EINVAL, "enum without a \"symbols\" array");
        return false;
    }
    if (!cput(c, ",\"symbols\":["))
        return false;
    for (size_t i = 0; i < wm_jsonr_len(syms); i++) {
        const char *s = wm_jsonr_str(wm_jsonr_at(syms, i));
        if (!valid_name(s, false)) {
            cerr(c, -EINVAL, "bad enum symbol %zu", i);
            return false;
        }
        if ((i && !cput(c, ",")) || !cstr(c, s))
            return false;
    }
    return cput(c, "]");
}

/* INTEGERS: the fixed size, as a number or a quoted number, without
 * leading zeros. */
static bool canon_size(struct canon *c, const struct wm_jsonr_val *size)
{
    char num[32];
    const char *s = wm_jsonr_num_text(size);
    size_t i = 0;

    if (!s)
        s = wm_jsonr_str(size);
    if (!s)
        s = "";
    while (s[i] == '0' && s[i + 1])
        i++;
    size_t digits = strspn(s + i, "0123456789");
    if (!*s || s[i + digits] || digits > 18) {
        cerr(c, -EINVAL, "fixed needs a non-negative integer \"size\"");
        return false;
    }
    snprintf(num, sizeof(num), ",\"size\":%s", s + i);
    return cput(c, num);
}

/* The "namespace" member, when present: null, "" or a dotted name. */
static bool namespace_ok(const struct wm_jsonr_val *space)
{
    const char *s = wm_jsonr_str(space);

    return !space || wm_jsonr_is_null(space) || (s && (!*s || valid_name(s, true)));
}

/* The rest of a record, enum or fixed after its name and type. */
static bool canon_named_body(struct canon *c, const struct wm_jsonr_val *n, const char *type,
                             const char *inner, int depth)
{
    if (strcmp(type, "enum") == 0)
        return canon_symbols(c, wm_jsonr_get(n, "symbols"));
    if (strcmp(type, "fixed") == 0)
        return canon_size(c, wm_jsonr_get(n, "size"));
    return canon_fields(c, wm_jsonr_get(n, "fields"), inner, depth);
}

/* Names and namespaces of record, enum and fixed. */
static bool canon_named(struct canon *c, const struct wm_jsonr_val *n, const char *type,
                        const char *ns, int depth)
{
    const char *name = wm_jsonr_str(wm_jsonr_get(n, "name"));
    const struct wm_jsonr_val *space = wm_jsonr_get(n, "namespace");
    bool ok = false;

    if (!valid_name(name, true) || !namespace_ok(space)) {
        cerr(c, -EINVAL, "%s needs a valid \"name\" (and \"namespace\")", type);
        return false;
    }
    if (!strchr(name, '.') && space)
        ns = wm_jsonr_is_null(space) ? "" : wm_jsonr_str(space);
    char *full = fullname(name, ns);
    if (!full) {
        cerr(c, -ENOMEM, "out of memory");
        return false;
    }
    /* Names inside a named type are resolved against its own namespace. */
    char *dot = strrchr(full, '.');
    char *inner = dot ? strndup(full, (size_t)(dot - full)) : strdup("");
    if (!inner) {
        cerr(c, -ENOMEM, "out of memory");
        goto out;
    }
    /* "error" is a record for parsing purposes. */
    ok = cput(c, "{\"name\":") && cstr(c, full) && cput(c, ",\"type\":") &&
         cstr(c, strcmp(type, "error") == 0 ? "record" : type) &&
         canon_named_body(c, n, type, inner, depth) && cput(c, "}");
out:
    free(inner);
    free(full);
    return ok;
}

static bool canon_object(struct canon *c, const struct wm_jsonr_val *n, const char *ns, int depth)
{
    const struct wm_jsonr_val *type = wm_jsonr_get(n, "type");

    if (!type) {
        cerr(c, -EINVAL, "schema object without \"type\"");
        return false;
    }
    if (wm_jsonr_type(type) != WM_JSONR_STRING) /* {"type": {...}} or {"type": [...]} */
        return canon_schema(c, type, ns, depth + 1);
    const char *t = wm_jsonr_str(type);
    if (!t) /* holds \u0000: canon_name_ref says so */
        return canon_name_ref(c, t, ns);
    if (is_primitive(t)) /* PRIMITIVES + STRIP: {"type":"long",...} -> "long" */
        return cstr(c, t);
    if (!strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") || !strcmp(t, "fixed"))
        return canon_named(c, n, t, ns, depth);
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        bool arr = t[0] == 'a';
        const struct wm_jsonr_val *sub = wm_jsonr_get(n, arr ? "items" : "values");
        if (!sub) {
            cerr(c, -EINVAL, "%s without \"%s\"", t, arr ? "items" : "values");
            return false;
        }
        return cput(c, arr ? "{\"type\":\"array\",\"items\":" : "{\"type\":\"map\",\"values\":") &&
               canon_schema(c, sub, ns, depth + 1) && cput(c, "}");
    }
    return canon_name_ref(c, t, ns);
}

static bool canon_schema(struct canon *c, const struct wm_jsonr_val *n, const char *ns, int depth)
{
    if (depth > CANON_MAX_DEPTH) {
        cerr(c, -EINVAL, "schema nested deeper than %d", CANON_MAX_DEPTH);
        return false;
    }
    switch (wm_jsonr_type(n)) {
    case WM_JSONR_STRING:
        return canon_name_ref(c, wm_jsonr_str(n), ns);
    case WM_JSONR_ARRAY:
        return canon_union(c, n, ns, depth);
    case WM_JSONR_OBJECT:
        return canon_object(c, n, ns, depth);
    default:
        cerr(c, -EINVAL, "a schema is a string, an array or an object");
        return false;
    }
}

/* Reads the schema text.  Values may sit up to CANON_MAX_DEPTH levels below
 * the root, so a container may open at that level too (an empty "fields" of
 * a deeply nested record): jsonr counts containers, hence the + 1.
 * max_values never binds before max_len does (a value takes at least one
 * byte and a separator).  Numbers in a schema are only carried (defaults,
 * custom attributes), so any size of them is accepted, as other Avro
 * libraries do. */
static struct wm_jsonr *canon_parse(const char *json, size_t len, int *rc, char *err, size_t errlen)
{
    const struct wm_jsonr_limits lim = {.max_len = CANON_MAX_INPUT,
                                        .max_depth = CANON_MAX_DEPTH + 1,
                                        .max_values = CANON_MAX_INPUT,
                                        .wide_numbers = true};
    struct wm_jsonr *d = wm_jsonr_parse(json, len, &lim, NULL, err, errlen);

    /* E2BIG (a limit) is a bad schema like any other */
    *rc = d ? 0 : errno == ENOMEM ? -ENOMEM : -EINVAL;
    return d;
}

int wm_avro_canonical(const char *json, size_t len, char **out, char *err, size_t errlen)
{
    struct canon c = {.err = err, .errlen = errlen};
    struct wm_jsonr *d;

    *out = NULL;
    if (!json || len > CANON_MAX_INPUT || memchr(json, '\0', len)) {
        cerr(&c, -EINVAL, "schema text missing, too long or containing NUL");
        return c.rc;
    }
    if (!(d = canon_parse(json, len, &c.rc, err, errlen)))
        return c.rc;
    canon_schema(&c, wm_jsonr_root(d), "", 0);
    wm_jsonr_free(d);
    if (c.rc) {
        free(c.out);
        return c.rc;
    }
    *out = c.out;
    return 0;
}

int wm_avro_fingerprint(const char *json, size_t len, uint64_t *fp, char *err, size_t errlen)
{
    char *canon;
    int rc = wm_avro_canonical(json, len, &canon, err, errlen);

    if (rc)
        return rc;
    *fp = wm_avro_crc64(canon, strlen(canon));
    free(canon);
    return 0;
}
