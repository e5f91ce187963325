/* utf8 — see utf8.h */
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

size_t wm_utf8_seq(const unsigned char *s, size_t n)
{
    if (n == 0 || s[0] == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        return n >= 2 && cont(s[1]) ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if (n < 3 || !cont(s[1]) || !cont(s[2]))
            return 0;
        if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F))
            return 0; /* overlong, UTF-16 surrogate */
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if (n < 4 || !cont(s[1]) || !cont(s[2]) || !cont(s[3]))
            return 0;
        if ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
            return 0; /* overlong, above U+10FFFF */
        return 4;
    }
    return 0;
}

bool wm_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = wm_utf8_seq(p + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* The bytes that stand for src's next unit (a character or an escape). */
static size_t next_unit(const unsigned char *p, size_t avail, char esc[5], const char **out)
{
    size_t k = wm_utf8_seq(p, avail);
    if (k) {
        *out = (const char *)p;
        return k;
    }
    snprintf(esc, 5, "\\x%02x", p[0]);
    *out = esc;
    return 4;
}

size_t wm_utf8_sanitize(const char *src, char *dst, size_t dstlen)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t n = strlen(src), pos = 0;
    for (size_t i = 0; i < n;) {
        char esc[5];
        const char *unit;
        size_t k = next_unit(p + i, n - i, esc, &unit);
        size_t consumed = unit == esc ? 1 : k;
        if (pos + k >= dstlen)
            break;
        memcpy(dst + pos, unit, k);
        pos += k;
        i += consumed;
    }
    dst[pos] = '\0';
    return pos;
}

char *wm_utf8_dup(const char *src)
{
    size_t cap = strlen(src) * 4 + 1;
    char *d = malloc(cap);
    if (d)
        wm_utf8_sanitize(src, d, cap);
    return d;
}
