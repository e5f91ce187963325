/* Commit and crash recovery on the receiver, driven over socketpairs (plain
 * transport; the TLS paths are covered by the other tests):
 *  - a staged delta is invisible until COMMIT; NAME.img still reads as the
 *    committed generation;
 *  - a receiver that died after recording "applying" (the commit point)
 *    finishes the commit when the volume is next opened: the image and the
 *    map reach the new generation and the journals go;
 *  - a COMMIT repeated after success is answered again (idempotent). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>

#include "blockmap.h"
#include "frame.h"
#include "proto.h"
#include "receiver.h"
#include "volstate.h"
#include "xport.h"

#define SIZE (256u * 4096)

static char dir[] = "/tmp/test_repl_commitXXXXXX";
static char root[128];
static uint8_t gen1[SIZE], gen2[SIZE];

struct conn_arg {
    struct receiver *r;
    int fd;
};

static void *conn_thread(void *p)
{
    struct conn_arg a = *(struct conn_arg *)p;
    free(p);
    receiver_handle(a.r, xport_from_fd(a.fd));
    return NULL;
}

/* A connection to receiver r, served on its own thread. */
static struct xport *conn(struct receiver *r)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct conn_arg *a = malloc(sizeof(*a));
    *a = (struct conn_arg){r, sv[1]};
    pthread_t t;
    pthread_create(&t, NULL, conn_thread, a);
    pthread_detach(t);
    return xport_from_fd(sv[0]);
}

static int last_len;

static int rpc(struct xport *x, uint8_t type, const uint8_t *p, long n, uint8_t **rb, size_t *cap)
{
    char err[256];
    uint8_t t;
    assert_int_equal(frame_send(x, type, p, (uint32_t)n), 0);
    last_len = frame_recv(x, &t, rb, cap, FRAME_MAX_PAYLOAD, err, sizeof(err));
    assert_true(last_len >= 0);
    return t;
}

static struct receiver *new_receiver(void)
{
    char err[256];
    struct receiver_opts o = {.root = root, .io_timeout_ms = 5000};
    struct receiver *r = receiver_new(&o, err, sizeof(err));
    assert_non_null(r);
    return r;
}

/* Sends data as generation gen's blocks (every block DATA or ZERO). */
static void send_generation(struct receiver *r, const uint8_t *data, int full, uint64_t *gen,
                            uint64_t *epoch)
{
    uint8_t buf[4096], *rb = NULL;
    size_t cap = 0;
    struct proto_begin b = {
        .volume = "c", .size = SIZE, .bs = 4096, .nranges = 1, .full = (uint8_t)full};
    struct xport *x = conn(r);
    assert_int_equal(rpc(x, FRAME_BEGIN, buf, proto_begin_encode(&b, buf, sizeof(buf)), &rb, &cap),
                     FRAME_BEGIN_OK);
    struct proto_begin_ok ok;
    assert_int_equal(proto_begin_ok_decode(rb, (size_t)last_len, &ok), 0);
    assert_int_equal(ok.mode, *gen == 0 ? PROTO_MODE_FULL : PROTO_MODE_DELTA);
    xport_free(x);
    *gen = ok.pending_gen;
    *epoch = ok.epoch;
    struct proto_stream s = {.volume = "c", .gen = *gen, .epoch = *epoch, .idx = 0};
    x = conn(r);
    assert_int_equal(
        rpc(x, FRAME_STREAM, buf, proto_stream_encode(&s, buf, sizeof(buf)), &rb, &cap),
        FRAME_STREAM_OK);
    struct frame_entry e[256];
    uint8_t rawbuf[SIZE];
    uint32_t n = 0, rawlen = 0;
    for (uint32_t i = 0; i < SIZE / 4096; i++) {
        const uint8_t *blk = data + (size_t)i * 4096;
        struct repl_digest d, z;
        blockmap_digest(blk, 4096, &d);
        blockmap_zero_digest(4096, &z);
        e[n] = (struct frame_entry){.off = (uint64_t)i * 4096, .len = 4096, .digest = d};
        e[n].kind = blockmap_digest_eq(&d, &z) ? FRAME_KIND_ZERO : FRAME_KIND_DATA;
        if (e[n].kind == FRAME_KIND_DATA) {
            memcpy(rawbuf + rawlen, blk, 4096);
            rawlen += 4096;
        }
        n++;
    }
    static uint8_t out[2 * SIZE];
    ZSTD_CCtx *zc = ZSTD_createCCtx();
    long len = frame_blocks_encode(out, sizeof(out), SIZE, e, n, rawbuf, rawlen, zc, 1);
    ZSTD_freeCCtx(zc);
    assert_true(len > 0);
    assert_int_equal(frame_send(x, FRAME_BLOCKS, out, (uint32_t)len), 0);
    struct proto_range rg = {0, SIZE, SIZE};
    assert_int_equal(
        rpc(x, FRAME_RANGE_DONE, buf, proto_range_encode(&rg, buf, sizeof(buf)), &rb, &cap),
        FRAME_RANGE_OK);
    xport_free(x);
    free(rb);
}

static uint8_t commit(struct receiver *r, uint64_t gen, uint64_t epoch)
{
    uint8_t buf[512], *rb = NULL;
    size_t cap = 0;
    struct proto_commit c = {.volume = "c", .gen = gen, .epoch = epoch};
    struct xport *x = conn(r);
    uint8_t t =
        (uint8_t)rpc(x, FRAME_COMMIT, buf, proto_commit_encode(&c, buf, sizeof(buf)), &rb, &cap);
    xport_free(x);
    free(rb);
    return t;
}

static void image_is(const uint8_t *want)
{
    char p[256];
    static uint8_t got[SIZE];
    snprintf(p, sizeof(p), "%s/c.img", root);
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, got, SIZE, 0), SIZE);
    close(fd);
    assert_memory_equal(got, want, SIZE);
}

static int setup(void **st)
{
    (void)st;
    if (!mkdtemp(dir))
        return -1;
    snprintf(root, sizeof(root), "%s", dir);
    srand(7);
    for (size_t i = 0; i < SIZE; i++)
        gen1[i] = (uint8_t)rand();
    memset(gen1 + 40 * 4096, 0, 10 * 4096);
    memcpy(gen2, gen1, SIZE);
    for (int b = 3; b < 256; b += 17)
        memset(gen2 + b * 4096, b, 4096);   /* changed blocks */
    memset(gen2 + 100 * 4096, 0, 8 * 4096); /* zeroed region */
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_staged_delta_is_invisible_until_commit_and_replayed_after_a_crash(void **st)
{
    (void)st;
    struct receiver *r = new_receiver();
    uint64_t gen = 0, epoch;
    send_generation(r, gen1, 0, &gen, &epoch);
    assert_int_equal(commit(r, gen, epoch), FRAME_COMMIT_OK);
    image_is(gen1);

    send_generation(r, gen2, 0, &gen, &epoch);
    assert_int_equal(gen, 2);
    image_is(gen1); /* staged, not visible */

    /* the receiver "dies" right after recording the commit point */
    char p[256], err[256];
    snprintf(p, sizeof(p), "%s/c.state", root);
    struct volstate vs;
    assert_int_equal(volstate_load(p, &vs, err, sizeof(err)), 0);
    assert_int_equal(vs.mode, PROTO_MODE_DELTA);
    vs.applying = 1;
    assert_int_equal(volstate_save(p, &vs, err, sizeof(err)), 0);

    /* a new receiver process opens the volume: the commit completes */
    struct receiver *r2 = new_receiver();
    uint8_t buf[512], *rb = NULL;
    size_t cap = 0;
    struct proto_map_req mq = {.volume = "c"};
    struct xport *x = conn(r2);
    assert_int_equal(
        rpc(x, FRAME_MAP_REQ, buf, proto_map_req_encode(&mq, buf, sizeof(buf)), &rb, &cap),
        FRAME_MAP_INFO);
    xport_free(x);
    free(rb);
    image_is(gen2);
    assert_int_equal(volstate_load(p, &vs, err, sizeof(err)), 0);
    assert_int_equal(vs.committed_gen, 2);
    assert_int_equal(vs.pending, 0);
    snprintf(p, sizeof(p), "%s/c.journal.0", root);
    assert_int_not_equal(access(p, F_OK), 0);
    /* the map is at generation 2 and describes the image */
    snprintf(p, sizeof(p), "%s/c.map", root);
    struct blockmap *m = blockmap_open(p, 0, 0, 0, err, sizeof(err));
    assert_non_null(m);
    assert_int_equal(blockmap_gen(m), 2);
    for (uint64_t i = 0; i < SIZE / 4096; i++) {
        struct repl_digest d;
        blockmap_digest(gen2 + i * 4096, 4096, &d);
        assert_true(blockmap_digest_eq(&d, blockmap_get(m, i)));
    }
    blockmap_free(m);
    /* zeroed blocks became holes */
    snprintf(p, sizeof(p), "%s/c.img", root);
    int fd = open(p, O_RDONLY);
    off_t hole = lseek(fd, 100 * 4096, SEEK_HOLE);
    close(fd);
    assert_int_equal(hole, 100 * 4096);
    /* the agent retrying its COMMIT (reply lost) is told it committed */
    assert_int_equal(commit(r2, 2, epoch), FRAME_COMMIT_OK);
    usleep(200000); /* connection threads finish after their reply */
    receiver_free(r);
    receiver_free(r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_staged_delta_is_invisible_until_commit_and_replayed_after_a_crash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
