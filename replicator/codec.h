/* codec — bounded little-endian cursors for the replicator's wire messages.
 *
 * A reader never reads past its end: once a read fails the cursor is marked
 * bad and every later read fails too, so decoders check once at the end
 * (codec_rd_ok) instead of after every field. */
#ifndef REPL_CODEC_H
#define REPL_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct codec_rd {
    const uint8_t *p;
    size_t len, pos;
    int bad;
};

struct codec_wr {
    uint8_t *p;
    size_t cap, pos;
    int bad; /* set when a write would overflow cap */
};

void codec_rd_init(struct codec_rd *r, const void *buf, size_t len);
uint8_t codec_get_u8(struct codec_rd *r);
uint16_t codec_get_u16(struct codec_rd *r);
uint32_t codec_get_u32(struct codec_rd *r);
uint64_t codec_get_u64(struct codec_rd *r);
/* Copies n bytes into out (zero-filled on failure). */
void codec_get_bytes(struct codec_rd *r, void *out, size_t n);
/* Borrows n bytes; NULL on failure. */
const uint8_t *codec_get_ref(struct codec_rd *r, size_t n);
/* u16 length + bytes into out (NUL-terminated, at most outlen-1 bytes,
 * longer strings or embedded NULs mark the cursor bad). */
void codec_get_str(struct codec_rd *r, char *out, size_t outlen);
/* True when no read failed and, if whole, every byte was consumed. */
int codec_rd_ok(const struct codec_rd *r, int whole);

void codec_wr_init(struct codec_wr *w, void *buf, size_t cap);
void codec_put_u8(struct codec_wr *w, uint8_t v);
void codec_put_u16(struct codec_wr *w, uint16_t v);
void codec_put_u32(struct codec_wr *w, uint32_t v);
void codec_put_u64(struct codec_wr *w, uint64_t v);
void codec_put_bytes(struct codec_wr *w, const void *b, size_t n);
void codec_put_str(struct codec_wr *w, const char *s);

#endif
