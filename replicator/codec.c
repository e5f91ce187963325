/* codec — bounded little-endian cursors (see codec.h). */
#include "codec.h"

#include <string.h>

void codec_rd_init(struct codec_rd *r, const void *buf, size_t len)
{
    r->p = buf;
    r->len = len;
    r->pos = 0;
    r->bad = 0;
}

const uint8_t *codec_get_ref(struct codec_rd *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint64_t codec_get_le(struct codec_rd *r, size_t n)
{
    const uint8_t *p = codec_get_ref(r, n);
    uint64_t v = 0;
    if (!p)
        return 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t codec_get_u8(struct codec_rd *r)
{
    return (uint8_t)codec_get_le(r, 1);
}
uint16_t codec_get_u16(struct codec_rd *r)
{
    return (uint16_t)codec_get_le(r, 2);
}
uint32_t codec_get_u32(struct codec_rd *r)
{
    return (uint32_t)codec_get_le(r, 4);
}
uint64_t codec_get_u64(struct codec_rd *r)
{
    return codec_get_le(r, 8);
}

void codec_get_bytes(struct codec_rd *r, void *out, size_t n)
{
    const uint8_t *p = codec_get_ref(r, n);
    if (p)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}

void codec_get_str(struct codec_rd *r, char *out, size_t outlen)
{
    uint16_t n = codec_get_u16(r);
    const uint8_t *p = codec_get_ref(r, n);
    out[0] = '\0';
    if (!p)
        return;
    if ((size_t)n >= outlen || memchr(p, '\0', n)) {
        r->bad = 1;
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

int codec_rd_ok(const struct codec_rd *r, int whole)
{
    return !r->bad && (!whole || r->pos == r->len);
}

void codec_wr_init(struct codec_wr *w, void *buf, size_t cap)
{
    w->p = buf;
    w->cap = cap;
    w->pos = 0;
    w->bad = 0;
}

void codec_put_bytes(struct codec_wr *w, const void *b, size_t n)
{
    if (w->bad || n > w->cap - w->pos) {
        w->bad = 1;
        return;
    }
    if (n)
        memcpy(w->p + w->pos, b, n);
    w->pos += n;
}

static void codec_put_le(struct codec_wr *w, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    codec_put_bytes(w, b, n);
}

void codec_put_u8(struct codec_wr *w, uint8_t v)
{
    codec_put_le(w, v, 1);
}
void codec_put_u16(struct codec_wr *w, uint16_t v)
{
    codec_put_le(w, v, 2);
}
void codec_put_u32(struct codec_wr *w, uint32_t v)
{
    codec_put_le(w, v, 4);
}
void codec_put_u64(struct codec_wr *w, uint64_t v)
{
    codec_put_le(w, v, 8);
}

void codec_put_str(struct codec_wr *w, const char *s)
{
    size_t n = strlen(s);
    if (n > 0xffff) {
        w->bad = 1;
        return;
    }
    codec_put_u16(w, (uint16_t)n);
    codec_put_bytes(w, s, n);
}
