/* aws_xml — bounded element finder for AWS API responses; see aws_xml.h. */
#include "provider/aws/aws_xml.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One tag starting at p ('<'): its kind, name, and where it ends. */
enum tag_kind { TAG_OPEN, TAG_CLOSE, TAG_EMPTY, TAG_OTHER, TAG_BAD };

struct tag {
    enum tag_kind kind;
    const char *name;
    size_t name_len;
    const char *after; /* just past the '>' */
};

static const char *find_str(const char *p, const char *end, const char *s)
{
    size_t n = strlen(s);
    for (; p + n <= end; p++)
        if (memcmp(p, s, n) == 0)
            return p;
    return NULL;
}

/* Comments, CDATA, <?…?> and <!…> are TAG_OTHER. */
static struct tag read_other(const char *p, const char *end)
{
    struct tag t = {.kind = TAG_OTHER};
    const char *close;
    if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
        close = find_str(p + 4, end, "-->");
        t.after = close ? close + 3 : NULL;
    } else if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
        close = find_str(p + 9, end, "]]>");
        t.after = close ? close + 3 : NULL;
    } else {
        close = memchr(p, '>', (size_t)(end - p));
        t.after = close ? close + 1 : NULL;
    }
    if (!t.after)
        t.kind = TAG_BAD;
    return t;
}

static struct tag read_tag(const char *p, const char *end)
{
    struct tag t = {.kind = TAG_BAD};
    if (p + 1 >= end)
        return t;
    if (p[1] == '?' || p[1] == '!')
        return read_other(p, end);
    bool close = p[1] == '/';
    t.name = p + 1 + close;
    const char *q = t.name;
    while (q < end && *q != '>' && *q != '/' && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
        q++;
    t.name_len = (size_t)(q - t.name);
    const char *gt = memchr(q, '>', (size_t)(end - q));
    if (!gt || t.name_len == 0)
        return t;
    t.after = gt + 1;
    t.kind = close ? TAG_CLOSE : (gt[-1] == '/' ? TAG_EMPTY : TAG_OPEN);
    return t;
}

/* For an open tag t: the inner span up to its matching close tag, and the
 * position after that close.  false if unbalanced or too deep. */
static bool element_extent(const struct tag *open, const char *end, struct aws_xml *inner,
                           const char **after)
{
    int depth = 1;
    const char *p = open->after;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            return false;
        struct tag t = read_tag(lt, end);
        if (t.kind == TAG_BAD)
            return false;
        if (t.kind == TAG_OPEN && ++depth > AWS_XML_MAX_DEPTH)
            return false;
        if (t.kind == TAG_CLOSE && --depth == 0) {
            inner->p = open->after;
            inner->end = lt;
            *after = t.after;
            return true;
        }
        p = t.after;
    }
    return false;
}

static bool name_is(const struct tag *t, const char *tag)
{
    return t->name_len == strlen(tag) && memcmp(t->name, tag, t->name_len) == 0;
}

/* The next element (any name) at the top level of [*cursor, end). */
static bool next_element(const char **cursor, const char *end, struct tag *t, struct aws_xml *inner)
{
    const char *p = *cursor;
    while (p && p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            return false;
        *t = read_tag(lt, end);
        if (t->kind == TAG_BAD || t->kind == TAG_CLOSE)
            return false;
        if (t->kind == TAG_OTHER) {
            p = t->after;
            continue;
        }
        if (t->kind == TAG_EMPTY) {
            inner->p = inner->end = t->after;
            *cursor = t->after;
            return true;
        }
        const char *after;
        if (!element_extent(t, end, inner, &after))
            return false;
        *cursor = after;
        return true;
    }
    return false;
}

bool aws_xml_next(struct aws_xml span, const char **cursor, const char *tag, struct aws_xml *out)
{
    struct tag t;
    struct aws_xml inner;
    while (next_element(cursor, span.end, &t, &inner)) {
        if (name_is(&t, tag)) {
            *out = inner;
            return true;
        }
    }
    return false;
}

static bool find_depth(struct aws_xml span, const char *tag, struct aws_xml *out, int depth)
{
    if (depth > AWS_XML_MAX_DEPTH)
        return false;
    const char *cursor = span.p;
    struct tag t;
    struct aws_xml inner;
    while (next_element(&cursor, span.end, &t, &inner)) {
        if (name_is(&t, tag)) {
            *out = inner;
            return true;
        }
        if (inner.p < inner.end && find_depth(inner, tag, out, depth + 1))
            return true;
    }
    return false;
}

bool aws_xml_find(struct aws_xml span, const char *tag, struct aws_xml *out)
{
    return find_depth(span, tag, out, 0);
}

/* --- text --- */

static size_t put_utf8(unsigned long cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the entity at p ('&'); *used gets its length (0 = not an entity). */
static size_t decode_entity(const char *p, const char *end, char *o, size_t *used)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    *used = 0;
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        size_t n = strlen(named[i].name);
        if ((size_t)(end - p) >= n && memcmp(p, named[i].name, n) == 0) {
            *used = n;
            o[0] = named[i].c;
            return 1;
        }
    }
    const char *semi = memchr(p, ';', (size_t)(end - p) < 12 ? (size_t)(end - p) : 12);
    if ((size_t)(end - p) > 3 && p[1] == '#' && semi) {
        char *e;
        bool hex = p[2] == 'x' || p[2] == 'X';
        unsigned long cp = strtoul(p + 2 + hex, &e, hex ? 16 : 10);
        if (e == semi && cp > 0 && cp <= 0x10FFFF) {
            *used = (size_t)(semi - p) + 1;
            return put_utf8(cp, o);
        }
    }
    return 0;
}

int aws_xml_span_text(struct aws_xml span, char *out, size_t outlen)
{
    if (outlen == 0)
        return -ENOSPC;
    size_t o = 0;
    for (const char *p = span.p; p < span.end;) {
        char buf[4];
        size_t used = 0, n = *p == '&' ? decode_entity(p, span.end, buf, &used) : 0;
        if (used == 0) {
            buf[0] = *p;
            n = used = 1;
        }
        if (o + n + 1 > outlen) {
            out[o] = '\0';
            return -ENOSPC;
        }
        memcpy(out + o, buf, n);
        o += n;
        p += used;
    }
    out[o] = '\0';
    return 0;
}

int aws_xml_text(struct aws_xml span, const char *tag, char *out, size_t outlen)
{
    struct aws_xml el;
    if (!aws_xml_find(span, tag, &el)) {
        if (outlen)
            out[0] = '\0';
        return -ENOENT;
    }
    return aws_xml_span_text(el, out, outlen);
}
