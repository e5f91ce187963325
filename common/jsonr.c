/* jsonr — strict, bounded JSON reader into an arena-allocated tree.
 *
 * Recursive descent over the text; children of the container being parsed
 * are collected on one shared stack and copied into the arena, exactly
 * sized, when the container closes, so no node is ever reallocated.  An
 * object's member keys live on its member values; a sorted index of them
 * finds duplicates at parse time and answers lookups in O(log n). */
#include "jsonr.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* A number literal longer than this is refused: no double or int64 needs it. */
#define JSONR_MAX_NUMBER_LEN 128
#define ARENA_CHUNK (64 * 1024)

struct wm_jsonr_val {
    unsigned char type;
    bool has_nul; /* string holds \u0000 */
    size_t off, koff;     /* of the value; of its key when a member */
    const char *key; /* set when this value is an object member */
    size_t klen;
    union {
        bool b;
        struct {
            int64_t i;
            double d;
            const char *text;
        } num;
        struct {
            const char *s;
            size_t len;
        } str;
        struct {
            struct wm_jsonr_val **kids;
            uint32_t *sorted; /* objects: member indices ordered by key */
            size_t n;
        } c;
    } u;
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct wm_jsonr {
    struct arena_chunk *chunks;
    struct wm_jsonr_val *root;
};

struct parser {
    const char *s;
    size_t len, pos;
    struct wm_jsonr *doc;
    int max_depth;
    bool wide_numbers;
    size_t max_values, nvalues;
    struct wm_jsonr_val **stk; /* children of open containers */
    size_t nstk, capstk;
    char *sb; /* string decoding scratch */
    size_t nsb, capsb;
    int rc; /* first error: -EINVAL, -E2BIG, -ENOMEM */
    size_t err_off;
    char *err;
    size_t errlen;
};

/* ---------------------------------------------------------------- arena */

static void *arena_alloc(struct wm_jsonr *d, size_t n)
{
    struct arena_chunk *c = d->chunks;

    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = d->chunks;
        d->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

void wm_jsonr_free(struct wm_jsonr *d)
{
    if (!d)
        return;
    struct arena_chunk *c = d->chunks;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(d);
}

/* ---------------------------------------------------------------- errors */

static void perr(struct parser *p, int rc, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void perr(struct parser *p, int rc, size_t off, const char *fmt, ...)
{
    char msg[128];
    va_list ap;

    if (p->rc)
        return;
    p->rc = rc;
    p->err_off = off;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->err && p->errlen)
        snprintf(p->err, p->errlen, "JSON error at byte %zu: %s", off, msg);
}

static void nomem(struct parser *p)
{
    perr(p, -ENOMEM, p->pos, "out of memory");
}

/* A printable description of the byte at off, for messages. */
static const char *byte_desc(const struct parser *p, size_t off, char *buf, size_t n)
{
    if (off >= p->len)
        return "end of input";
    unsigned char c = (unsigned char)p->s[off];
    if (c >= 0x21 && c < 0x7f)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

static void unexpected(struct parser *p, const char *wanted)
{
    char b[16];
    perr(p, -EINVAL, p->pos, "expected %s, found %s", wanted, byte_desc(p, p->pos, b, sizeof(b)));
}

/* ---------------------------------------------------------------- helpers */

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static struct wm_jsonr_val *new_val(struct parser *p, enum wm_jsonr_type t)
{
    if (++p->nvalues > p->max_values) {
        perr(p, -E2BIG, p->pos, "more than %zu values", p->max_values);
        return NULL;
    }
    struct wm_jsonr_val *v = arena_alloc(p->doc, sizeof(*v));
    if (!v) {
        nomem(p);
        return NULL;
    }
    memset(v, 0, sizeof(*v));
    v->type = (unsigned char)t;
    v->off = p->pos;
    return v;
}

static bool stk_push(struct parser *p, struct wm_jsonr_val *v)
{
    if (p->nstk == p->capstk) {
        size_t cap = p->capstk ? p->capstk * 2 : 64;
        struct wm_jsonr_val **n = realloc(p->stk, cap * sizeof(*n));
        if (!n) {
            nomem(p);
            return false;
        }
        p->stk = n;
        p->capstk = cap;
    }
    p->stk[p->nstk++] = v;
    return true;
}

static bool sb_put(struct parser *p, const char *src, size_t n)
{
    if (p->nsb + n > p->capsb) {
        size_t cap = p->capsb ? p->capsb : 256;
        while (cap < p->nsb + n)
            cap *= 2;
        char *b = realloc(p->sb, cap);
        if (!b) {
            nomem(p);
            return false;
        }
        p->sb = b;
        p->capsb = cap;
    }
    memcpy(p->sb + p->nsb, src, n);
    p->nsb += n;
    return true;
}

/* ---------------------------------------------------------------- strings */

/* Length of the valid UTF-8 sequence at s (avail bytes), 0 when invalid:
 * no overlong forms, no UTF-16 surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
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

static int hex4(const struct parser *p, size_t at)
{
    int v = 0;

    if (at > p->len || p->len - at < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        char c = p->s[at + (size_t)i];
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

/* \uXXXX with p->pos at the backslash; a high surrogate must be followed
 * by an escaped low one. */
static bool unicode_escape(struct parser *p, uint32_t *cp)
{
    size_t at = p->pos;
    int hi = hex4(p, at + 2), lo;

    if (hi < 0) {
        perr(p, -EINVAL, at, "\\u needs four hex digits");
        return false;
    }
    p->pos += 6;
    if (hi >= 0xdc00 && hi <= 0xdfff) {
        perr(p, -EINVAL, at, "lone low surrogate \\u%04x", (unsigned)hi);
        return false;
    }
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = (uint32_t)hi;
        return true;
    }
    if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
        (lo = hex4(p, p->pos + 2)) < 0xdc00 || lo > 0xdfff) {
        perr(p, -EINVAL, at, "high surrogate \\u%04x without a low surrogate after it",
             (unsigned)hi);
        return false;
    }
    p->pos += 6;
    *cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
    return true;
}

/* One escape sequence (p->pos at the backslash) appended to the scratch. */
static bool escape(struct parser *p, bool *has_nul)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char out[4];
    size_t n = 1;
    uint32_t cp;

    if (p->pos + 1 >= p->len) {
        perr(p, -EINVAL, p->pos, "unterminated string");
        return false;
    }
    char c = p->s[p->pos + 1];
    const char *f = c ? strchr(from, c) : NULL;
    if (f) {
        out[0] = to[f - from];
        p->pos += 2;
    } else if (c == 'u') {
        if (!unicode_escape(p, &cp))
            return false;
        *has_nul |= cp == 0;
        n = utf8_put(cp, out);
    } else {
        char b[16];
        perr(p, -EINVAL, p->pos, "bad escape \\%s", byte_desc(p, p->pos + 1, b, sizeof(b)));
        return false;
    }
    return sb_put(p, out, n);
}

/* A string literal (p->pos at the quote), decoded into the arena. */
static bool parse_string(struct parser *p, const char **out, size_t *outlen, bool *has_nul)
{
    size_t start = p->pos++;

    p->nsb = 0;
    *has_nul = false;
    for (;;) {
        if (p->pos >= p->len) {
            perr(p, -EINVAL, start, "unterminated string");
            return false;
        }
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"')
            break;
        if (c == '\\') {
            if (!escape(p, has_nul))
                return false;
            continue;
        }
        if (c < 0x20) {
            perr(p, -EINVAL, p->pos, "raw control character 0x%02x in string", c);
            return false;
        }
        size_t n = utf8_seq((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (!n) {
            perr(p, -EINVAL, p->pos, "invalid UTF-8 in string");
            return false;
        }
        if (!sb_put(p, p->s + p->pos, n))
            return false;
        p->pos += n;
    }
    p->pos++;
    char *s = arena_alloc(p->doc, p->nsb + 1);
    if (!s) {
        nomem(p);
        return false;
    }
    if (p->nsb)
        memcpy(s, p->sb, p->nsb);
    s[p->nsb] = '\0';
    *out = s;
    *outlen = p->nsb;
    return true;
}

/* ---------------------------------------------------------------- numbers */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static size_t digits(const struct parser *p, size_t i)
{
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
        i++;
    return i;
}

/* End of the number literal starting at p->pos per the RFC 8259 grammar,
 * or 0 with the error set; *is_int when it has no fraction or exponent. */
static size_t number_end(struct parser *p, bool *is_int)
{
    size_t i = p->pos, d;

    if (i < p->len && p->s[i] == '-')
        i++;
    d = digits(p, i);
    if (d == i || (p->s[i] == '0' && d > i + 1)) {
        perr(p, -EINVAL, p->pos, d == i ? "bad number" : "number with a leading zero");
        return 0;
    }
    i = d;
    *is_int = true;
    if (i < p->len && p->s[i] == '.') {
        d = digits(p, ++i);
        if (d == i) {
            perr(p, -EINVAL, i, "digit expected after '.'");
            return 0;
        }
        i = d;
        *is_int = false;
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        d = digits(p, i);
        if (d == i) {
            perr(p, -EINVAL, i, "digit expected in exponent");
            return 0;
        }
        i = d;
        *is_int = false;
    }
    return i;
}

static bool int_value(const char *t, int64_t *out)
{
    bool neg = *t == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

    for (t += neg; *t; t++) {
        unsigned d = (unsigned)(*t - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static struct wm_jsonr_val *parse_number(struct parser *p)
{
    bool is_int;
    size_t end = number_end(p, &is_int);

    if (!end)
        return NULL;
    size_t n = end - p->pos;
    if (n > JSONR_MAX_NUMBER_LEN) {
        perr(p, -EINVAL, p->pos, "number literal longer than %d characters", JSONR_MAX_NUMBER_LEN);
        return NULL;
    }
    struct wm_jsonr_val *v = new_val(p, is_int ? WM_JSONR_INT : WM_JSONR_DOUBLE);
    char *t = v ? arena_alloc(p->doc, n + 1) : NULL;
    if (v && !t)
        nomem(p);
    if (!t)
        return NULL;
    memcpy(t, p->s + p->pos, n);
    t[n] = '\0';
    v->u.num.text = t;
    if (is_int && !int_value(t, &v->u.num.i)) {
        if (!p->wide_numbers) {
            perr(p, -EINVAL, p->pos, "integer out of the int64 range");
            return NULL;
        }
        is_int = false;
        v->type = WM_JSONR_DOUBLE;
    }
    pthread_once(&c_locale_once, c_locale_init);
    errno = 0;
    v->u.num.d = c_locale ? strtod_l(t, NULL, c_locale) : strtod(t, NULL);
    if (!is_int && errno == ERANGE && (v->u.num.d > 1 || v->u.num.d < -1) && !p->wide_numbers) {
        perr(p, -EINVAL, p->pos, "number out of the double range");
        return NULL;
    }
    p->pos = end;
    return v;
}

/* ---------------------------------------------------------------- values */

static struct wm_jsonr_val *parse_value(struct parser *p, int depth);

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* qsort has no context argument in C11: the kids array travels in a
 * thread-local, set just before sorting. */
static _Thread_local struct wm_jsonr_val *const *sort_kids;

static int sorted_cmp(const void *a, const void *b)
{
    const struct wm_jsonr_val *x = sort_kids[*(const uint32_t *)a];
    const struct wm_jsonr_val *y = sort_kids[*(const uint32_t *)b];
    int c = key_cmp(x->key, x->klen, y->key, y->klen);
    if (c)
        return c;
    return x->koff < y->koff ? -1 : x->koff > y->koff; /* later duplicate second */
}

/* Moves the top n stacked children into v; for objects builds the key index
 * and refuses duplicate keys. */
static bool close_container(struct parser *p, struct wm_jsonr_val *v, size_t n)
{
    struct wm_jsonr_val **kids = n ? arena_alloc(p->doc, n * sizeof(*kids)) : NULL;

    if (n && !kids) {
        nomem(p);
        return false;
    }
    if (n)
        memcpy(kids, p->stk + p->nstk - n, n * sizeof(*kids));
    p->nstk -= n;
    v->u.c.kids = kids;
    v->u.c.n = n;
    if (v->type != WM_JSONR_OBJECT || !n)
        return true;
    uint32_t *idx = arena_alloc(p->doc, n * sizeof(*idx));
    if (!idx) {
        nomem(p);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    sort_kids = kids;
    qsort(idx, n, sizeof(*idx), sorted_cmp);
    for (size_t i = 1; i < n; i++) {
        const struct wm_jsonr_val *a = kids[idx[i - 1]], *b = kids[idx[i]];
        if (key_cmp(a->key, a->klen, b->key, b->klen) == 0) {
            perr(p, -EINVAL, b->koff, "duplicate key \"%.40s\"", b->key);
            return false;
        }
    }
    v->u.c.sorted = idx;
    return true;
}

/* One "key": value member of an object, pushed on the child stack. */
static bool parse_member(struct parser *p, int depth)
{
    const char *key;
    size_t klen, koff;
    bool nul;

    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '"') {
        unexpected(p, "a string key");
        return false;
    }
    koff = p->pos;
    if (!parse_string(p, &key, &klen, &nul))
        return false;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':') {
        unexpected(p, "':' after the key");
        return false;
    }
    p->pos++;
    struct wm_jsonr_val *v = parse_value(p, depth);
    if (!v)
        return false;
    v->key = key;
    v->klen = klen;
    v->koff = koff;
    return stk_push(p, v);
}

static struct wm_jsonr_val *parse_container(struct parser *p, int depth)
{
    bool obj = p->s[p->pos] == '{';
    char close = obj ? '}' : ']';
    struct wm_jsonr_val *v;
    size_t base = p->nstk;

    if (depth >= p->max_depth) {
        perr(p, -E2BIG, p->pos, "nested deeper than %d", p->max_depth);
        return NULL;
    }
    if (!(v = new_val(p, obj ? WM_JSONR_OBJECT : WM_JSONR_ARRAY)))
        return NULL;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return v;
    }
    for (;;) {
        if (obj ? !parse_member(p, depth + 1) : !stk_push(p, parse_value(p, depth + 1)))
            return NULL;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close)
            break;
        unexpected(p, obj ? "',' or '}' after an object member" : "',' or ']' after an array item");
        return NULL;
    }
    p->pos++;
    return close_container(p, v, p->nstk - base) ? v : NULL;
}

static struct wm_jsonr_val *parse_literal(struct parser *p)
{
    static const char *const lits[] = {"true", "false", "null"};

    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(lits[i]);
        if (p->len - p->pos >= l && memcmp(p->s + p->pos, lits[i], l) == 0) {
            struct wm_jsonr_val *v = new_val(p, i == 2 ? WM_JSONR_NULL : WM_JSONR_BOOL);
            if (v)
                v->u.b = i == 0;
            p->pos += l;
            return v;
        }
    }
    unexpected(p, "a JSON value");
    return NULL;
}

static struct wm_jsonr_val *parse_value(struct parser *p, int depth)
{
    struct wm_jsonr_val *v;

    skip_ws(p);
    if (p->pos >= p->len) {
        unexpected(p, "a JSON value");
        return NULL;
    }
    char c = p->s[p->pos];
    if (c == '{' || c == '[')
        return parse_container(p, depth);
    if (c == '"') {
        if (!(v = new_val(p, WM_JSONR_STRING)))
            return NULL;
        return parse_string(p, &v->u.str.s, &v->u.str.len, &v->has_nul) ? v : NULL;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p);
    return parse_literal(p);
}

static void limits_apply(struct parser *p, const struct wm_jsonr_limits *lim, size_t *max_len)
{
    *max_len = lim && lim->max_len ? lim->max_len : WM_JSONR_DEFAULT_MAX_LEN;
    p->max_depth = lim && lim->max_depth > 0 ? lim->max_depth : WM_JSONR_DEFAULT_MAX_DEPTH;
    if (p->max_depth > WM_JSONR_DEPTH_CEILING)
        p->max_depth = WM_JSONR_DEPTH_CEILING;
    p->max_values = lim && lim->max_values ? lim->max_values : WM_JSONR_DEFAULT_MAX_VALUES;
    p->wide_numbers = lim && lim->wide_numbers;
}

struct wm_jsonr *wm_jsonr_parse(const char *text, size_t len, const struct wm_jsonr_limits *lim,
                                size_t *err_offset, char *err, size_t errlen)
{
    struct parser p = {.s = text, .len = len, .err = err, .errlen = errlen};
    size_t max_len;

    limits_apply(&p, lim, &max_len);
    if (!text)
        perr(&p, -EINVAL, 0, "no text");
    else if (len > max_len)
        perr(&p, -E2BIG, max_len, "document longer than %zu bytes", max_len);
    else if (!(p.doc = calloc(1, sizeof(*p.doc))))
        nomem(&p);
    if (!p.rc) {
        p.doc->root = parse_value(&p, 0);
        skip_ws(&p);
        if (p.doc->root && p.pos < len)
            unexpected(&p, "end of input after the JSON value");
    }
    free(p.stk);
    free(p.sb);
    if (!p.rc)
        return p.doc;
    wm_jsonr_free(p.doc);
    if (err_offset)
        *err_offset = p.err_off;
    errno = -p.rc;
    return NULL;
}

/* ---------------------------------------------------------------- access */

const struct wm_jsonr_val *wm_jsonr_root(const struct wm_jsonr *d)
{
    return d ? d->root : NULL;
}

enum wm_jsonr_type wm_jsonr_type(const struct wm_jsonr_val *v)
{
    return v ? (enum wm_jsonr_type)v->type : WM_JSONR_ABSENT;
}

const char *wm_jsonr_type_name(enum wm_jsonr_type t)
{
    static const char *const names[] = {"absent", "null",   "boolean", "integer",
                                        "number", "string", "array",   "object"};
    return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

size_t wm_jsonr_offset(const struct wm_jsonr_val *v)
{
    return v ? v->off : 0;
}

size_t wm_jsonr_len(const struct wm_jsonr_val *v)
{
    switch (wm_jsonr_type(v)) {
    case WM_JSONR_STRING:
        return v->u.str.len;
    case WM_JSONR_ARRAY:
    case WM_JSONR_OBJECT:
        return v->u.c.n;
    default:
        return 0;
    }
}

static bool is_container(const struct wm_jsonr_val *v)
{
    return v && (v->type == WM_JSONR_ARRAY || v->type == WM_JSONR_OBJECT);
}

const struct wm_jsonr_val *wm_jsonr_at(const struct wm_jsonr_val *v, size_t i)
{
    return is_container(v) && i < v->u.c.n ? v->u.c.kids[i] : NULL;
}

const char *wm_jsonr_key_at(const struct wm_jsonr_val *v, size_t i)
{
    return v && v->type == WM_JSONR_OBJECT && i < v->u.c.n ? v->u.c.kids[i]->key : NULL;
}

static const struct wm_jsonr_val *get_n(const struct wm_jsonr_val *v, const char *key, size_t klen)
{
    if (!v || v->type != WM_JSONR_OBJECT || !key)
        return NULL;
    size_t lo = 0, hi = v->u.c.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct wm_jsonr_val *m = v->u.c.kids[v->u.c.sorted[mid]];
        int c = key_cmp(m->key, m->klen, key, klen);
        if (c == 0)
            return m;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct wm_jsonr_val *wm_jsonr_get(const struct wm_jsonr_val *v, const char *key)
{
    return key ? get_n(v, key, strlen(key)) : NULL;
}

/* A path segment as an array index: decimal digits only, no sign. */
static bool seg_index(const char *s, size_t n, size_t *out)
{
    size_t v = 0;

    if (n == 0 || n > 18)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

const struct wm_jsonr_val *wm_jsonr_path(const struct wm_jsonr_val *v, const char *path)
{
    if (!path)
        return NULL;
    while (v && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path), i;
        if (v->type == WM_JSONR_ARRAY)
            v = seg_index(path, n, &i) ? wm_jsonr_at(v, i) : NULL;
        else
            v = get_n(v, path, n);
        if (!dot)
            break;
        path = dot + 1;
        if (!*path) /* "a." names nothing */
            return NULL;
    }
    return v;
}

const char *wm_jsonr_strn(const struct wm_jsonr_val *v, size_t *len)
{
    if (!v || v->type != WM_JSONR_STRING)
        return NULL;
    if (len)
        *len = v->u.str.len;
    return v->u.str.s;
}

const char *wm_jsonr_str(const struct wm_jsonr_val *v)
{
    return v && v->type == WM_JSONR_STRING && !v->has_nul ? v->u.str.s : NULL;
}

bool wm_jsonr_int(const struct wm_jsonr_val *v, int64_t *out)
{
    if (!v || v->type != WM_JSONR_INT)
        return false;
    *out = v->u.num.i;
    return true;
}

bool wm_jsonr_double(const struct wm_jsonr_val *v, double *out)
{
    if (!v || (v->type != WM_JSONR_INT && v->type != WM_JSONR_DOUBLE))
        return false;
    *out = v->u.num.d;
    return true;
}

bool wm_jsonr_bool(const struct wm_jsonr_val *v, bool *out)
{
    if (!v || v->type != WM_JSONR_BOOL)
        return false;
    *out = v->u.b;
    return true;
}

bool wm_jsonr_is_null(const struct wm_jsonr_val *v)
{
    return v && v->type == WM_JSONR_NULL;
}

const char *wm_jsonr_num_text(const struct wm_jsonr_val *v)
{
    return v && (v->type == WM_JSONR_INT || v->type == WM_JSONR_DOUBLE) ? v->u.num.text : NULL;
}

const char *wm_jsonr_path_str(const struct wm_jsonr_val *v, const char *path, const char *dflt)
{
    const char *s = wm_jsonr_str(wm_jsonr_path(v, path));
    return s ? s : dflt;
}

int64_t wm_jsonr_path_int(const struct wm_jsonr_val *v, const char *path, int64_t dflt)
{
    int64_t i;
    return wm_jsonr_int(wm_jsonr_path(v, path), &i) ? i : dflt;
}

/* ---------------------------------------------------------------- write */

void wm_jsonr_write(struct wm_json *j, const struct wm_jsonr_val *v)
{
    switch (wm_jsonr_type(v)) {
    case WM_JSONR_BOOL:
        wm_json_bool(j, v->u.b);
        break;
    case WM_JSONR_INT:
        wm_json_int(j, v->u.num.i);
        break;
    case WM_JSONR_DOUBLE:
        wm_json_raw(j, v->u.num.text);
        break;
    case WM_JSONR_STRING:
        wm_json_strn(j, v->u.str.s, v->u.str.len);
        break;
    case WM_JSONR_ARRAY:
        wm_json_arr_begin(j);
        for (size_t i = 0; i < v->u.c.n; i++)
            wm_jsonr_write(j, v->u.c.kids[i]);
        wm_json_arr_end(j);
        break;
    case WM_JSONR_OBJECT:
        wm_json_obj_begin(j);
        for (size_t i = 0; i < v->u.c.n; i++) {
            const struct wm_jsonr_val *m = v->u.c.kids[i];
            /* wm_json_key takes a C string: a key with \u0000 is cut there */
            wm_json_key(j, m->key);
            wm_jsonr_write(j, m);
        }
        wm_json_obj_end(j);
        break;
    default:
        wm_json_null(j);
        break;
    }
}
