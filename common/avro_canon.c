/* avro_canon — Parsing Canonical Form and CRC-64-AVRO fingerprint of an Avro
 * schema text, following the "Parsing Canonical Form for Schemas" and
 * "Schema Fingerprints" sections of the Avro specification.
 *
 * avro-c has neither, and its parsed schema objects lose details the form
 * depends on, so the schema JSON is parsed here by a small, bounded JSON
 * parser into a tree and the canonical text is written from that tree. */
#include "avro.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ------------------------------------------------------------------ JSON */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jnode {
    enum jtype type;
    char *str; /* J_STR: decoded UTF-8; J_NUM: literal text; J_BOOL: "true"/"false" */
    size_t slen;
    struct jnode **kids; /* J_ARR items, J_OBJ values */
    char **keys;         /* J_OBJ keys (decoded) */
    size_t nkids, cap;
};

struct jparser {
    const char *p, *end;
    char *err;
    size_t errlen;
    int rc; /* first error: -EINVAL or -ENOMEM */
};

static void jerr(struct jparser *jp, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void jerr(struct jparser *jp, int rc, const char *fmt, ...)
{
    va_list ap;

    if (jp->rc)
        return;
    jp->rc = rc;
    if (jp->err && jp->errlen) {
        va_start(ap, fmt);
        vsnprintf(jp->err, jp->errlen, fmt, ap);
        va_end(ap);
    }
}

static void jnode_free(struct jnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++) {
        jnode_free(n->kids[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->kids);
    free(n->keys);
    free(n->str);
    free(n);
}

static void jskip_ws(struct jparser *jp)
{
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

/* Appends one byte to a growing buffer; false on ENOMEM. */
static bool buf_put(char **b, size_t *len, size_t *cap, const char *src, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        while (ncap < *len + n + 1)
            ncap *= 2;
        char *nb = realloc(*b, ncap);
        if (!nb)
            return false;
        *b = nb;
        *cap = ncap;
    }
    memcpy(*b + *len, src, n);
    *len += n;
    (*b)[*len] = '\0';
    return true;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* \uXXXX (and a following low surrogate) at jp->p (after the 'u'). */
static bool junicode(struct jparser *jp, uint32_t *cp)
{
    int hi, lo;

    if (jp->end - jp->p < 4 || (hi = hex4(jp->p)) < 0)
        return false;
    jp->p += 4;
    if (hi < 0xd800 || hi > 0xdfff) {
        *cp = (uint32_t)hi;
        return true;
    }
    if (hi > 0xdbff || jp->end - jp->p < 6 || jp->p[0] != '\\' || jp->p[1] != 'u' ||
        (lo = hex4(jp->p + 2)) < 0xdc00 || lo > 0xdfff)
        return false;
    jp->p += 6;
    *cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
    return true;
}

/* Parses a string literal (jp->p at the opening quote) into *out. */
static bool jstring(struct jparser *jp, char **out, size_t *outlen)
{
    char *b = NULL, tmp[4];
    size_t len = 0, cap = 0, n;
    uint32_t cp;

    jp->p++;
    if (!buf_put(&b, &len, &cap, "", 0))
        goto nomem;
    while (jp->p < jp->end && *jp->p != '"') {
        unsigned char c = (unsigned char)*jp->p++;
        if (c < 0x20)
            goto bad;
        if (c != '\\') {
            if (!buf_put(&b, &len, &cap, (const char *)&c, 1))
                goto nomem;
            continue;
        }
        if (jp->p >= jp->end)
            goto bad;
        c = (unsigned char)*jp->p++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            tmp[0] = (char)c;
            n = 1;
            break;
        case 'b':
            tmp[0] = '\b';
            n = 1;
            break;
        case 'f':
            tmp[0] = '\f';
            n = 1;
            break;
        case 'n':
            tmp[0] = '\n';
            n = 1;
            break;
        case 'r':
            tmp[0] = '\r';
            n = 1;
            break;
        case 't':
            tmp[0] = '\t';
            n = 1;
            break;
        case 'u':
            if (!junicode(jp, &cp))
                goto bad;
            n = utf8_put(cp, tmp);
            break;
        default:
            goto bad;
        }
        if (!buf_put(&b, &len, &cap, tmp, n))
            goto nomem;
    }
    if (jp->p >= jp->end)
        goto bad;
    jp->p++;
    *out = b;
    *outlen = len;
    return true;
bad:
    jerr(jp, -EINVAL, "bad JSON string literal");
    free(b);
    return false;
nomem:
    jerr(jp, -ENOMEM, "out of memory");
    free(b);
    return false;
}

static struct jnode *jnew(struct jparser *jp, enum jtype t)
{
    struct jnode *n = calloc(1, sizeof(*n));
    if (!n)
        jerr(jp, -ENOMEM, "out of memory");
    else
        n->type = t;
    return n;
}

static bool jadd(struct jparser *jp, struct jnode *n, char *key, struct jnode *kid)
{
    if (n->nkids == n->cap) {
        size_t ncap = n->cap ? n->cap * 2 : 4;
        struct jnode **k = realloc(n->kids, ncap * sizeof(*k));
        if (k)
            n->kids = k;
        char **ks = n->type == J_OBJ ? realloc(n->keys, ncap * sizeof(*ks)) : NULL;
        if (ks)
            n->keys = ks;
        if (!k || (n->type == J_OBJ && !ks)) {
            jerr(jp, -ENOMEM, "out of memory");
            return false;
        }
        n->cap = ncap;
    }
    n->kids[n->nkids] = kid;
    if (n->type == J_OBJ)
        n->keys[n->nkids] = key;
    n->nkids++;
    return true;
}

static struct jnode *jvalue(struct jparser *jp, int depth);

static const struct jnode *jget(const struct jnode *obj, const char *key)
{
    for (size_t i = 0; obj->type == J_OBJ && i < obj->nkids; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->kids[i];
    return NULL;
}

static struct jnode *jobject(struct jparser *jp, int depth)
{
    struct jnode *n = jnew(jp, J_OBJ);

    jp->p++;
    jskip_ws(jp);
    if (n && jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        return n;
    }
    while (n && !jp->rc) {
        char *key = NULL;
        size_t klen;
        jskip_ws(jp);
        if (jp->p >= jp->end || *jp->p != '"' || !jstring(jp, &key, &klen))
            break;
        if (strlen(key) != klen || jget(n, key)) {
            jerr(jp, -EINVAL, "duplicate or invalid JSON key \"%.40s\"", key);
            free(key);
            break;
        }
        jskip_ws(jp);
        if (jp->p >= jp->end || *jp->p++ != ':') {
            free(key);
            break;
        }
        struct jnode *v = jvalue(jp, depth + 1);
        if (!v || !jadd(jp, n, key, v)) {
            free(key);
            jnode_free(v);
            break;
        }
        jskip_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == '}') {
            jp->p++;
            return n;
        }
        break;
    }
    jerr(jp, -EINVAL, "bad JSON object");
    jnode_free(n);
    return NULL;
}

static struct jnode *jarray(struct jparser *jp, int depth)
{
    struct jnode *n = jnew(jp, J_ARR);

    jp->p++;
    jskip_ws(jp);
    if (n && jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        return n;
    }
    while (n && !jp->rc) {
        struct jnode *v = jvalue(jp, depth + 1);
        if (!v || !jadd(jp, n, NULL, v)) {
            jnode_free(v);
            break;
        }
        jskip_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == ']') {
            jp->p++;
            return n;
        }
        break;
    }
    jerr(jp, -EINVAL, "bad JSON array");
    jnode_free(n);
    return NULL;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool jnumber_ok(const char *s, size_t n)
{
    size_t i = 0, d;

    if (n == 0 || n > 64)
        return false;
    if (s[i] == '-')
        i++;
    d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == d) /* leading zeros allowed: the INTEGERS rule strips them */
        return false;
    if (i < n && s[i] == '.') {
        d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

/* Numbers and the literals true/false/null: kept as their text. */
static struct jnode *jscalar(struct jparser *jp)
{
    static const char *const lits[] = {"true", "false", "null"};
    const char *s = jp->p;

    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(lits[i]);
        if ((size_t)(jp->end - s) >= l && memcmp(s, lits[i], l) == 0) {
            struct jnode *n = jnew(jp, i == 2 ? J_NULL : J_BOOL);
            if (n && !(n->str = strdup(lits[i])))
                jerr(jp, -ENOMEM, "out of memory");
            jp->p += l;
            return n;
        }
    }
    while (jp->p < jp->end && *jp->p && strchr("0123456789+-.eE", *jp->p))
        jp->p++;
    if (!jnumber_ok(s, (size_t)(jp->p - s))) {
        jerr(jp, -EINVAL, "bad JSON value");
        return NULL;
    }
    struct jnode *n = jnew(jp, J_NUM);
    if (n && !(n->str = strndup(s, (size_t)(jp->p - s))))
        jerr(jp, -ENOMEM, "out of memory");
    if (n)
        n->slen = (size_t)(jp->p - s);
    return n;
}

static struct jnode *jvalue(struct jparser *jp, int depth)
{
    struct jnode *n;

    jskip_ws(jp);
    if (depth > CANON_MAX_DEPTH) {
        jerr(jp, -EINVAL, "JSON nested deeper than %d", CANON_MAX_DEPTH);
        return NULL;
    }
    if (jp->p >= jp->end) {
        jerr(jp, -EINVAL, "unexpected end of JSON");
        return NULL;
    }
    switch (*jp->p) {
    case '{':
        return jobject(jp, depth);
    case '[':
        return jarray(jp, depth);
    case '"':
        if (!(n = jnew(jp, J_STR)))
            return NULL;
        if (!jstring(jp, &n->str, &n->slen)) {
            jnode_free(n);
            return NULL;
        }
        return n;
    default:
        return jscalar(jp);
    }
}

/* ------------------------------------------------------------ canonical */

struct canon {
    char *out;
    size_t len, cap;
    struct jparser *jp; /* error sink */
};

static bool cput(struct canon *c, const char *s)
{
    if (!buf_put(&c->out, &c->len, &c->cap, s, strlen(s))) {
        jerr(c->jp, -ENOMEM, "out of memory");
        return false;
    }
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

/* Avro name: [A-Za-z_][A-Za-z0-9_]*, dotted if dots is set. */
static bool valid_name(const char *s, bool dots)
{
    bool start = true;

    if (!*s)
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

static bool canon_schema(struct canon *c, const struct jnode *n, const char *ns, int depth);

/* A type given by name: a primitive or a reference to a named type. */
static bool canon_name_ref(struct canon *c, const char *s, const char *ns)
{
    if (is_primitive(s))
        return cstr(c, s);
    if (!valid_name(s, true)) {
        jerr(c->jp, -EINVAL, "bad type name \"%.60s\"", s);
        return false;
    }
    char *f = fullname(s, ns);
    if (!f) {
        jerr(c->jp, -ENOMEM, "out of memory");
        return false;
    }
    bool ok = cstr(c, f);
    free(f);
    return ok;
}

static bool canon_union(struct canon *c, const struct jnode *n, const char *ns, int depth)
{
    if (!cput(c, "["))
        return false;
    for (size_t i = 0; i < n->nkids; i++)
        if ((i && !cput(c, ",")) || !canon_schema(c, n->kids[i], ns, depth + 1))
            return false;
    return cput(c, "]");
}

static bool canon_fields(struct canon *c, const struct jnode *fields, const char *ns, int depth)
{
    if (!fields || fields->type != J_ARR) {
        jerr(c->jp, -EINVAL, "record without a \"fields\" array");
        return false;
    }
    if (!cput(c, ",\"fields\":["))
        return false;
    for (size_t i = 0; i < fields->nkids; i++) {
        const struct jnode *f = fields->kids[i];
        const struct jnode *name = f->type == J_OBJ ? jget(f, "name") : NULL;
        const struct jnode *type = f->type == J_OBJ ? jget(f, "type") : NULL;
        if (!name || name->type != J_STR || !valid_name(name->str, false) || !type) {
            jerr(c->jp, -EINVAL, "record field %zu needs a valid \"name\" and a \"type\"", i);
            return false;
        }
        if ((i && !cput(c, ",")) || !cput(c, "{\"name\":") || !cstr(c, name->str) ||
            !cput(c, ",\"type\":") || !canon_schema(c, type, ns, depth + 1) || !cput(c, "}"))
            return false;
    }
    return cput(c, "]");
}

static bool canon_symbols(struct canon *c, const struct jnode *syms)
{
    if (!syms || syms->type != J_ARR) {
        jerr(c->jp, -EINVAL, "enum without a \"symbols\" array");
        return false;
    }
    if (!cput(c, ",\"symbols\":["))
        return false;
    for (size_t i = 0; i < syms->nkids; i++) {
        const struct jnode *s = syms->kids[i];
        if (s->type != J_STR || !valid_name(s->str, false)) {
            jerr(c->jp, -EINVAL, "bad enum symbol %zu", i);
            return false;
        }
        if ((i && !cput(c, ",")) || !cstr(c, s->str))
            return false;
    }
    return cput(c, "]");
}

/* INTEGERS: the fixed size, as a number or a quoted number, without
 * leading zeros. */
static bool canon_size(struct canon *c, const struct jnode *size)
{
    char num[32];
    const char *s = size && (size->type == J_NUM || size->type == J_STR) ? size->str : "";
    size_t i = 0;

    while (s[i] == '0' && s[i + 1])
        i++;
    size_t digits = strspn(s + i, "0123456789");
    if (!*s || s[i + digits] || digits > 18) {
        jerr(c->jp, -EINVAL, "fixed needs a non-negative integer \"size\"");
        return false;
    }
    snprintf(num, sizeof(num), ",\"size\":%s", s + i);
    return cput(c, num);
}

/* Names and namespaces of record, enum and fixed. */
static bool canon_named(struct canon *c, const struct jnode *n, const char *type, const char *ns,
                        int depth)
{
    const struct jnode *name = jget(n, "name"), *space = jget(n, "namespace");
    bool ok = false;

    if (!name || name->type != J_STR || !valid_name(name->str, true) ||
        (space && space->type != J_STR && space->type != J_NULL) ||
        (space && space->type == J_STR && *space->str && !valid_name(space->str, true))) {
        jerr(c->jp, -EINVAL, "%s needs a valid \"name\" (and \"namespace\")", type);
        return false;
    }
    if (!strchr(name->str, '.') && space)
        ns = space->type == J_STR ? space->str : "";
    char *full = fullname(name->str, ns);
    if (!full) {
        jerr(c->jp, -ENOMEM, "out of memory");
        return false;
    }
    /* Names inside a named type are resolved against its own namespace. */
    char *dot = strrchr(full, '.');
    char *inner = dot ? strndup(full, (size_t)(dot - full)) : strdup("");
    if (!inner) {
        jerr(c->jp, -ENOMEM, "out of memory");
        goto out;
    }
    /* "error" is a record for parsing purposes. */
    if (!cput(c, "{\"name\":") || !cstr(c, full) || !cput(c, ",\"type\":") ||
        !cstr(c, strcmp(type, "error") == 0 ? "record" : type))
        goto out;
    if (strcmp(type, "enum") == 0)
        ok = canon_symbols(c, jget(n, "symbols"));
    else if (strcmp(type, "fixed") == 0)
        ok = canon_size(c, jget(n, "size"));
    else
        ok = canon_fields(c, jget(n, "fields"), inner, depth);
    ok = ok && cput(c, "}");
out:
    free(inner);
    free(full);
    return ok;
}

static bool canon_object(struct canon *c, const struct jnode *n, const char *ns, int depth)
{
    const struct jnode *type = jget(n, "type");

    if (!type) {
        jerr(c->jp, -EINVAL, "schema object without \"type\"");
        return false;
    }
    if (type->type != J_STR) /* {"type": {...}} or {"type": [...]} */
        return canon_schema(c, type, ns, depth + 1);
    const char *t = type->str;
    if (is_primitive(t)) /* PRIMITIVES + STRIP: {"type":"long",...} -> "long" */
        return cstr(c, t);
    if (!strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") || !strcmp(t, "fixed"))
        return canon_named(c, n, t, ns, depth);
    if (!strcmp(t, "array") || !strcmp(t, "map")) {
        bool arr = t[0] == 'a';
        const struct jnode *sub = jget(n, arr ? "items" : "values");
        if (!sub) {
            jerr(c->jp, -EINVAL, "%s without \"%s\"", t, arr ? "items" : "values");
            return false;
        }
        return cput(c, arr ? "{\"type\":\"array\",\"items\":" : "{\"type\":\"map\",\"values\":") &&
               canon_schema(c, sub, ns, depth + 1) && cput(c, "}");
    }
    return canon_name_ref(c, t, ns);
}

static bool canon_schema(struct canon *c, const struct jnode *n, const char *ns, int depth)
{
    if (depth > CANON_MAX_DEPTH) {
        jerr(c->jp, -EINVAL, "schema nested deeper than %d", CANON_MAX_DEPTH);
        return false;
    }
    switch (n->type) {
    case J_STR:
        return canon_name_ref(c, n->str, ns);
    case J_ARR:
        return canon_union(c, n, ns, depth);
    case J_OBJ:
        return canon_object(c, n, ns, depth);
    default:
        jerr(c->jp, -EINVAL, "a schema is a string, an array or an object");
        return false;
    }
}

int wm_avro_canonical(const char *json, size_t len, char **out, char *err, size_t errlen)
{
    struct jparser jp = {.p = json, .end = json + len, .err = err, .errlen = errlen};
    struct canon c = {.jp = &jp};

    *out = NULL;
    if (!json || len > CANON_MAX_INPUT || memchr(json, '\0', len)) {
        jerr(&jp, -EINVAL, "schema text missing, too long or containing NUL");
        return jp.rc;
    }
    struct jnode *root = jvalue(&jp, 0);
    jskip_ws(&jp);
    if (root && jp.p != jp.end)
        jerr(&jp, -EINVAL, "trailing characters after the JSON value");
    if (root && !jp.rc)
        canon_schema(&c, root, "", 0);
    jnode_free(root);
    if (jp.rc) {
        free(c.out);
        return jp.rc;
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
