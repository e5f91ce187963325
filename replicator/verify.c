/* verify — compare source and target (see verify.h). */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockmap.h"
#include "frame.h"
#include "proto.h"
#include "sender.h"
#include "xport.h"

#define VERIFY_CHUNK (8u << 20)

struct verify_src {
    int fd;
    uint64_t size, off; /* buffer holds [off, off+len) */
    uint8_t *buf;
    size_t len;
    EVP_MD_CTX *sha;
};

/* Digest of block idx of the source; blocks are asked for in order. */
static int verify_block(struct verify_src *s, uint64_t idx, uint32_t bs, struct repl_digest *d)
{
    uint64_t off = idx * bs;
    if (off >= s->size)
        return -ERANGE;
    if (off >= s->off + s->len) {
        s->off = off;
        s->len = s->size - off < VERIFY_CHUNK ? (size_t)(s->size - off) : VERIFY_CHUNK;
        if (pread(s->fd, s->buf, s->len, (off_t)off) != (ssize_t)s->len)
            return -EIO;
        if (s->sha)
            EVP_DigestUpdate(s->sha, s->buf, s->len);
    }
    size_t at = (size_t)(off - s->off);
    blockmap_digest(s->buf + at, s->len - at < bs ? s->len - at : bs, d);
    return 0;
}

static int verify_chunks(struct xport *x, struct verify_src *s, const struct proto_map_info *info,
                         struct verify_result *res, struct proto_map_end *end, char *err,
                         size_t errlen)
{
    uint8_t *rb = NULL, t;
    size_t cap = 0;
    int rc;
    while ((rc = frame_recv(x, &t, &rb, &cap, FRAME_MAX_PAYLOAD, err, errlen)) >= 0) {
        uint64_t first;
        uint32_t n;
        const uint8_t *dg;
        if (t == FRAME_MAP_END) {
            rc = proto_map_end_decode(rb, (size_t)rc, end) < 0 || res->blocks != info->nblocks
                     ? -EPROTO
                     : 0;
            break;
        }
        if (t == FRAME_ERROR) {
            sender_error_text(rb, (size_t)rc, err, errlen);
            rc = -EPROTO;
            break;
        }
        if (t != FRAME_MAP_CHUNK || proto_map_chunk_decode(rb, (size_t)rc, &first, &n, &dg) < 0 ||
            first != res->blocks || first + n > info->nblocks) {
            snprintf(err, errlen, "malformed digest stream from receiver");
            rc = -EPROTO;
            break;
        }
        for (uint32_t i = 0; i < n && rc >= 0; i++, res->blocks++) {
            struct repl_digest d;
            if ((rc = verify_block(s, first + i, info->bs, &d)) < 0)
                snprintf(err, errlen, "read source: %s", strerror(-rc));
            else if (memcmp(d.b, dg + (size_t)i * 16, 16) != 0 && res->mismatched++ == 0)
                res->first_mismatch = (first + i) * info->bs;
        }
        if (rc < 0)
            break;
    }
    free(rb);
    return rc < 0 ? rc : 0;
}

static int verify_session(const struct sync_opts *o, struct verify_src *s, int sha256,
                          struct verify_result *res, char *err, size_t errlen)
{
    struct proto_map_req req = {.rehash = 1, .sha256 = (uint8_t)sha256};
    snprintf(req.volume, sizeof(req.volume), "%s", o->volume);
    uint8_t buf[512], *rb = NULL;
    size_t cap = 0;
    int rlen, code, rc = -EPROTO;
    long n = proto_map_req_encode(&req, buf, sizeof(buf));
    struct xport *x = sync_call(o, FRAME_MAP_REQ, buf, n, FRAME_MAP_INFO, &rb, &cap, &rlen, &code,
                                NULL, err, errlen);
    struct proto_map_info info;
    if (x && proto_map_info_decode(rb, (size_t)rlen, &info) < 0)
        snprintf(err, errlen, "malformed map info from receiver");
    else if (x) {
        res->gen = info.gen;
        res->size_dst = info.size;
        if (info.size != s->size) {
            rc = 1;
        } else {
            struct proto_map_end end;
            rc = verify_chunks(x, s, &info, res, &end, err, errlen);
            if (rc == 0 && sha256) {
                uint8_t mine[32];
                EVP_DigestFinal_ex(s->sha, mine, NULL);
                res->sha_checked = end.has_sha;
                res->sha_equal = end.has_sha && memcmp(mine, end.sha, 32) == 0;
            }
            if (rc == 0)
                rc = res->mismatched || (sha256 && !res->sha_equal) ? 1 : 0;
        }
    }
    free(rb);
    xport_free(x);
    return rc;
}

int verify_run(const struct sync_opts *o, int sha256, struct verify_result *res, char *err,
               size_t errlen)
{
    memset(res, 0, sizeof(*res));
    err[0] = '\0';
    struct verify_src s = {.fd = open(o->disk, O_RDONLY | O_CLOEXEC)};
    int rc = s.fd < 0 ? -errno : sync_source_size(s.fd, &s.size);
    if (rc < 0) {
        snprintf(err, errlen, "source %s: %s", o->disk, strerror(-rc));
        if (s.fd >= 0)
            close(s.fd);
        return rc;
    }
    res->size_src = s.size;
    s.buf = malloc(VERIFY_CHUNK);
    s.sha = sha256 ? EVP_MD_CTX_new() : NULL;
    if (s.sha)
        EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL);
    posix_fadvise(s.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    rc = s.buf ? verify_session(o, &s, sha256, res, err, errlen) : -ENOMEM;
    EVP_MD_CTX_free(s.sha);
    free(s.buf);
    close(s.fd);
    return rc;
}
