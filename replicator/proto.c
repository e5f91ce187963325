/* proto — session message codecs (see proto.h). */
#include "proto.h"

#include <errno.h>
#include <string.h>

#include "codec.h"

#define ENC_END(w) ((w).bad ? -EMSGSIZE : (long)(w).pos)
#define DEC_END(r) (codec_rd_ok(&(r), 1) ? 0 : -EBADMSG)

long proto_begin_encode(const struct proto_begin *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_str(&w, m->volume);
    codec_put_u64(&w, m->size);
    codec_put_u32(&w, m->bs);
    codec_put_u16(&w, m->nranges);
    codec_put_u8(&w, m->full);
    return ENC_END(w);
}

int proto_begin_decode(const uint8_t *p, size_t len, struct proto_begin *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    codec_get_str(&r, m->volume, sizeof(m->volume));
    m->size = codec_get_u64(&r);
    m->bs = codec_get_u32(&r);
    m->nranges = codec_get_u16(&r);
    m->full = codec_get_u8(&r);
    return DEC_END(r);
}

long proto_begin_ok_encode(const struct proto_begin_ok *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u64(&w, m->committed_gen);
    codec_put_u64(&w, m->committed_size);
    codec_put_bytes(&w, m->uuid, 16);
    codec_put_u32(&w, m->committed_bs);
    codec_put_u64(&w, m->pending_gen);
    codec_put_u64(&w, m->epoch);
    codec_put_u8(&w, m->mode);
    codec_put_u16(&w, m->nranges);
    for (uint16_t i = 0; i < m->nranges && i < PROTO_MAX_RANGES; i++) {
        codec_put_u64(&w, m->ranges[i].start);
        codec_put_u64(&w, m->ranges[i].end);
        codec_put_u64(&w, m->ranges[i].done);
    }
    return m->nranges > PROTO_MAX_RANGES ? -EMSGSIZE : ENC_END(w);
}

int proto_begin_ok_decode(const uint8_t *p, size_t len, struct proto_begin_ok *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->committed_gen = codec_get_u64(&r);
    m->committed_size = codec_get_u64(&r);
    codec_get_bytes(&r, m->uuid, 16);
    m->committed_bs = codec_get_u32(&r);
    m->pending_gen = codec_get_u64(&r);
    m->epoch = codec_get_u64(&r);
    m->mode = codec_get_u8(&r);
    m->nranges = codec_get_u16(&r);
    if (m->nranges == 0 || m->nranges > PROTO_MAX_RANGES)
        return -EBADMSG;
    for (uint16_t i = 0; i < m->nranges; i++) {
        struct proto_range *g = &m->ranges[i];
        g->start = codec_get_u64(&r);
        g->end = codec_get_u64(&r);
        g->done = codec_get_u64(&r);
        if (g->start > g->end || g->done < g->start || g->done > g->end)
            return -EBADMSG;
    }
    if (m->mode != PROTO_MODE_FULL && m->mode != PROTO_MODE_DELTA)
        return -EBADMSG;
    return DEC_END(r);
}

long proto_stream_encode(const struct proto_stream *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_str(&w, m->volume);
    codec_put_u64(&w, m->gen);
    codec_put_u64(&w, m->epoch);
    codec_put_u16(&w, m->idx);
    return ENC_END(w);
}

int proto_stream_decode(const uint8_t *p, size_t len, struct proto_stream *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    codec_get_str(&r, m->volume, sizeof(m->volume));
    m->gen = codec_get_u64(&r);
    m->epoch = codec_get_u64(&r);
    m->idx = codec_get_u16(&r);
    return DEC_END(r);
}

long proto_range_encode(const struct proto_range *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u64(&w, m->start);
    codec_put_u64(&w, m->end);
    codec_put_u64(&w, m->done);
    return ENC_END(w);
}

int proto_range_decode(const uint8_t *p, size_t len, struct proto_range *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->start = codec_get_u64(&r);
    m->end = codec_get_u64(&r);
    m->done = codec_get_u64(&r);
    if (m->start > m->end || m->done < m->start || m->done > m->end)
        return -EBADMSG;
    return DEC_END(r);
}

long proto_commit_encode(const struct proto_commit *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_str(&w, m->volume);
    codec_put_u64(&w, m->gen);
    codec_put_u64(&w, m->epoch);
    return ENC_END(w);
}

int proto_commit_decode(const uint8_t *p, size_t len, struct proto_commit *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    codec_get_str(&r, m->volume, sizeof(m->volume));
    m->gen = codec_get_u64(&r);
    m->epoch = codec_get_u64(&r);
    return DEC_END(r);
}

long proto_gen_encode(const struct proto_gen *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u64(&w, m->gen);
    codec_put_bytes(&w, m->uuid, 16);
    return ENC_END(w);
}

int proto_gen_decode(const uint8_t *p, size_t len, struct proto_gen *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->gen = codec_get_u64(&r);
    codec_get_bytes(&r, m->uuid, 16);
    return DEC_END(r);
}

long proto_map_req_encode(const struct proto_map_req *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_str(&w, m->volume);
    codec_put_u8(&w, m->rehash);
    codec_put_u8(&w, m->sha256);
    return ENC_END(w);
}

int proto_map_req_decode(const uint8_t *p, size_t len, struct proto_map_req *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    codec_get_str(&r, m->volume, sizeof(m->volume));
    m->rehash = codec_get_u8(&r);
    m->sha256 = codec_get_u8(&r);
    return DEC_END(r);
}

long proto_map_info_encode(const struct proto_map_info *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u64(&w, m->gen);
    codec_put_u64(&w, m->size);
    codec_put_u64(&w, m->nblocks);
    codec_put_bytes(&w, m->uuid, 16);
    codec_put_u32(&w, m->bs);
    return ENC_END(w);
}

int proto_map_info_decode(const uint8_t *p, size_t len, struct proto_map_info *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->gen = codec_get_u64(&r);
    m->size = codec_get_u64(&r);
    m->nblocks = codec_get_u64(&r);
    codec_get_bytes(&r, m->uuid, 16);
    m->bs = codec_get_u32(&r);
    if (m->bs == 0 || m->nblocks != (m->size + m->bs - 1) / m->bs)
        return -EBADMSG;
    return DEC_END(r);
}

long proto_map_end_encode(const struct proto_map_end *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u8(&w, m->has_sha);
    codec_put_bytes(&w, m->sha, 32);
    return ENC_END(w);
}

int proto_map_end_decode(const uint8_t *p, size_t len, struct proto_map_end *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->has_sha = codec_get_u8(&r);
    codec_get_bytes(&r, m->sha, 32);
    return DEC_END(r);
}

long proto_error_encode(const struct proto_error *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u32(&w, m->code);
    codec_put_str(&w, m->text);
    return ENC_END(w);
}

int proto_error_decode(const uint8_t *p, size_t len, struct proto_error *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->code = codec_get_u32(&r);
    codec_get_str(&r, m->text, sizeof(m->text));
    return DEC_END(r);
}

long proto_busy_encode(const struct proto_busy *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u32(&w, m->retry_ms);
    codec_put_str(&w, m->text);
    return ENC_END(w);
}

int proto_busy_decode(const uint8_t *p, size_t len, struct proto_busy *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->retry_ms = codec_get_u32(&r);
    codec_get_str(&r, m->text, sizeof(m->text));
    return DEC_END(r);
}

long proto_ctl_req_encode(const struct proto_ctl_req *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u8(&w, m->op);
    codec_put_u8(&w, m->full);
    codec_put_u8(&w, m->sha256);
    codec_put_str(&w, m->id);
    codec_put_str(&w, m->disk);
    codec_put_str(&w, m->volume);
    codec_put_str(&w, m->to);
    codec_put_u16(&w, m->streams);
    codec_put_u32(&w, m->bs);
    codec_put_u32(&w, (uint32_t)m->level);
    codec_put_u64(&w, m->bwlimit);
    return ENC_END(w);
}

int proto_ctl_req_decode(const uint8_t *p, size_t len, struct proto_ctl_req *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->op = codec_get_u8(&r);
    m->full = codec_get_u8(&r);
    m->sha256 = codec_get_u8(&r);
    codec_get_str(&r, m->id, sizeof(m->id));
    codec_get_str(&r, m->disk, sizeof(m->disk));
    codec_get_str(&r, m->volume, sizeof(m->volume));
    codec_get_str(&r, m->to, sizeof(m->to));
    m->streams = codec_get_u16(&r);
    m->bs = codec_get_u32(&r);
    m->level = (int32_t)codec_get_u32(&r);
    m->bwlimit = codec_get_u64(&r);
    if (m->op != PROTO_CTL_SYNC && m->op != PROTO_CTL_VERIFY && m->op != PROTO_CTL_EBS_EXPORT)
        return -EBADMSG;
    return DEC_END(r);
}

static void progress_put(struct codec_wr *w, const struct proto_progress *m)
{
    codec_put_u64(w, m->scanned);
    codec_put_u64(w, m->sent);
    codec_put_u64(w, m->wire);
    codec_put_u64(w, m->total);
    codec_put_u64(w, m->rate);
    codec_put_u64(w, m->eta_s);
    codec_put_u64(w, m->gen);
    codec_put_u32(w, m->waiting);
}

static void progress_get(struct codec_rd *r, struct proto_progress *m)
{
    m->scanned = codec_get_u64(r);
    m->sent = codec_get_u64(r);
    m->wire = codec_get_u64(r);
    m->total = codec_get_u64(r);
    m->rate = codec_get_u64(r);
    m->eta_s = codec_get_u64(r);
    m->gen = codec_get_u64(r);
    m->waiting = codec_get_u32(r);
}

long proto_progress_encode(const struct proto_progress *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    progress_put(&w, m);
    return ENC_END(w);
}

int proto_progress_decode(const uint8_t *p, size_t len, struct proto_progress *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    progress_get(&r, m);
    return DEC_END(r);
}

long proto_ctl_result_encode(const struct proto_ctl_result *m, uint8_t *buf, size_t cap)
{
    struct codec_wr w;
    codec_wr_init(&w, buf, cap);
    codec_put_u32(&w, (uint32_t)m->rc);
    codec_put_u64(&w, m->gen);
    progress_put(&w, &m->prog);
    codec_put_str(&w, m->text);
    return ENC_END(w);
}

int proto_ctl_result_decode(const uint8_t *p, size_t len, struct proto_ctl_result *m)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    m->rc = (int32_t)codec_get_u32(&r);
    m->gen = codec_get_u64(&r);
    progress_get(&r, &m->prog);
    codec_get_str(&r, m->text, sizeof(m->text));
    return DEC_END(r);
}

int proto_map_chunk_decode(const uint8_t *p, size_t len, uint64_t *first, uint32_t *n,
                           const uint8_t **digests)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    *first = codec_get_u64(&r);
    *n = codec_get_u32(&r);
    if (*n > PROTO_MAP_CHUNK)
        return -EBADMSG;
    *digests = codec_get_ref(&r, (size_t)*n * 16);
    return DEC_END(r);
}

int proto_volume_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 100 || name[0] == '.' || name[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}
