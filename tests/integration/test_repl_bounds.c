/* Resource bounds of the receiver and the agent's control port (issue 9,
 * findings 3-5), over real mTLS and the real daemons:
 *   - a BEGIN declaring more than the maximum volume size, or more than the
 *     file system holds, is refused before anything is staged;
 *   - 256 clients trickling a TLS record one byte a second, reconnecting
 *     when cut, do not keep an agent from syncing;
 *   - wavemill-receiver and wavemill-agent serve run out of descriptors
 *     (RLIMIT_NOFILE 40 / 24, a flood of connections from 20 addresses), log it,
 *     stay up, and serve a sync once the flood is gone. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>

#include "../support/repl_fixture.h"
#include "../support/tls_fixture.h"
#include "blockmap.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "proto.h"
#include "receiver.h"
#include "repl_client.h"
#include "sync.h"
#include "tls.h"
#include "xport.h"

#define SRC_SIZE (8u << 20)
#define TRICKLERS 256
#define FLOOD 200

static char pki[256], root[300], src[300], hostport[64], bin[512];
static struct wm_tls_ctx *agent_ctx;
static volatile sig_atomic_t stop_flag;

static int setup(void **state)
{
    (void)state;
    char err[512], dir[400];
    signal(SIGPIPE, SIG_IGN);
    const char *b = getenv("WM_BIN");
    snprintf(bin, sizeof(bin), "%s", b && *b ? b : "bin");
    if (repl_fixture_pki(pki, sizeof(pki), root, sizeof(root), 1) < 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s/agent1", pki);
    if (!(agent_ctx = wm_tls_ctx_new(dir, WM_TLS_CLIENT, err, sizeof(err))))
        return -1;
    if (repl_fixture_receiver(pki, root, hostport, sizeof(hostport), &stop_flag, err, sizeof(err)) <
        0)
        return -1;
    snprintf(src, sizeof(src), "%s/src.img", pki);
    return repl_fixture_random_file(src, SRC_SIZE, 1);
}

static pid_t spawned[4];
static int nspawned;

static int teardown(void **state)
{
    (void)state;
    char tiny[400];
    snprintf(tiny, sizeof(tiny), "%s/tiny", pki);
    umount2(tiny, MNT_DETACH);         /* a failed ENOSPC case left its tmpfs */
    for (int i = 0; i < nspawned; i++) /* a failed test left its daemon */
        if (kill(spawned[i], SIGKILL) == 0)
            waitpid(spawned[i], NULL, 0);
    tls_fixture_free(pki);
    return 0;
}

static int sync_to(const char *to, const char *volume, char *err, size_t errlen)
{
    struct sync_opts so;
    struct sync_result res;
    char sd[400];
    sync_opts_defaults(&so);
    snprintf(sd, sizeof(sd), "%s/state-%s", pki, volume);
    so.disk = src, so.volume = volume, so.to = to, so.state_dir = sd, so.tls = agent_ctx;
    return sync_run(&so, &res, err, errlen);
}

/* One BEGIN; returns the ERROR code (0 if BEGIN_OK) with its text. */
static int begin(const char *volume, uint64_t size, char *text, size_t textlen)
{
    char err[600];
    uint8_t buf[512], *rb = NULL, t = 0;
    size_t cap = 0;
    struct proto_begin b = {.size = size, .bs = 4096, .nranges = 1, .full = 1};
    snprintf(b.volume, sizeof(b.volume), "%s", volume);
    struct xport *x = xport_dial(hostport, agent_ctx, 5000, err, sizeof(err));
    assert_non_null(x);
    assert_int_equal(frame_send(x, FRAME_BEGIN, buf, (uint32_t)proto_begin_encode(&b, buf, 512)),
                     0);
    int n = frame_recv(x, &t, &rb, &cap, FRAME_MAX_PAYLOAD, err, sizeof(err));
    assert_true(n >= 0);
    int code = 0;
    if (t == FRAME_ERROR) {
        struct proto_error e;
        assert_int_equal(proto_error_decode(rb, (size_t)n, &e), 0);
        code = (int)e.code;
        snprintf(text, textlen, "%s", e.text);
    }
    free(rb);
    xport_free(x);
    return code;
}

static void assert_no_files_of(const char *volume)
{
    const char *sfx[] = {".img", ".map", ".state", ".stage", ".stage.map"};
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        char p[600];
        struct stat sb;
        snprintf(p, sizeof(p), "%s/%s%s", root, volume, sfx[i]);
        if (stat(p, &sb) == 0)
            fail_msg("refused BEGIN left %s (%lld bytes allocated)", p,
                     (long long)sb.st_blocks * 512);
    }
}

/* Old receivers made an 8 TiB sparse stage and a 256 GiB map from one frame. */
static void test_begin_over_max_volume_size_is_refused(void **state)
{
    (void)state;
    char text[PROTO_TEXT_MAX] = "";
    assert_int_equal(begin("huge", (uint64_t)17 << 40, text, sizeof(text)), PROTO_E_INVALID);
    if (!strstr(text, "maximum volume size"))
        fail_msg("refusal does not name the limit: %s", text);
    assert_no_files_of("huge");
}

static void test_begin_beyond_free_space_is_refused(void **state)
{
    (void)state;
    char text[PROTO_TEXT_MAX] = "";
    /* under the 16 TiB default maximum, far over what the test disk holds */
    assert_int_equal(begin("roomy", (uint64_t)15 << 40, text, sizeof(text)), PROTO_E_IO);
    if (!strstr(text, "not enough free space"))
        fail_msg("refusal does not say why: %s", text);
    assert_no_files_of("roomy");
    /* and a receiver error never shows its root directory */
    assert_null(strstr(text, root));
}

/* Issue 9 (low): error replies showed the receiver's absolute root. */
static void test_error_replies_do_not_show_the_receivers_directories(void **state)
{
    (void)state;
    char p[400], text[PROTO_TEXT_MAX] = "";
    snprintf(p, sizeof(p), "%s/blocked.stage", root);
    assert_int_equal(mkdir(p, 0700), 0); /* the staging file cannot be created */
    assert_int_equal(begin("blocked", 1 << 20, text, sizeof(text)), PROTO_E_IO);
    if (!strstr(text, "blocked.stage") || strstr(text, root) || strchr(text, '/'))
        fail_msg("reply should name the file but no directory: %s", text);
    rmdir(p);
}

/* --- connections that never finish their handshake --- */

struct trickle {
    int port, fds[TRICKLERS];
    size_t sent[TRICKLERS];
    volatile int stop;
    int cuts;
};

/* A TLS handshake record header announcing 512 bytes, then zeros: a server
 * reading it waits for the rest, which comes one byte a second. */
static const uint8_t record_hdr[5] = {0x16, 0x03, 0x01, 0x02, 0x00};

static int flood_connect(int port, int i, int naddrs)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in me = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    char a[32];
    snprintf(a, sizeof(a), "127.0.0.%d", 2 + i % naddrs);
    inet_pton(AF_INET, a, &me.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons((uint16_t)port);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0)
        connect(fd, (struct sockaddr *)&to, sizeof(to)); /* EINPROGRESS */
    return fd;
}

/* Each second: every socket sends its next byte; a socket the server cut
 * (EOF or error) is replaced by a fresh one, as an attacker would. */
static void *trickle_thread(void *arg)
{
    struct trickle *tr = arg;
    for (int i = 0; i < TRICKLERS; i++)
        tr->fds[i] = flood_connect(tr->port, i, 8);
    while (!tr->stop) {
        for (int i = 0; i < TRICKLERS; i++) {
            char c;
            ssize_t r = recv(tr->fds[i], &c, 1, MSG_DONTWAIT);
            uint8_t b = tr->sent[i] < sizeof(record_hdr) ? record_hdr[tr->sent[i]] : 0;
            ssize_t w = r == 0 ? -1 : send(tr->fds[i], &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w == 1)
                tr->sent[i]++;
            else if (r == 0 || (errno != EAGAIN && errno != EINPROGRESS && errno != ENOTCONN)) {
                close(tr->fds[i]);
                tr->cuts++;
                tr->sent[i] = 0;
                tr->fds[i] = flood_connect(tr->port, i, 8);
            }
        }
        usleep(1000000);
    }
    for (int i = 0; i < TRICKLERS; i++)
        close(tr->fds[i]);
    return NULL;
}

struct serve_arg {
    struct receiver *r;
    int fd;
};

static void *serve_thread(void *p)
{
    struct serve_arg *a = p;
    receiver_serve(a->r, a->fd, &stop_flag);
    return NULL;
}

static void test_trickling_clients_do_not_starve_an_agent(void **state)
{
    (void)state;
    char err[512], dir[400], addr[64];
    snprintf(dir, sizeof(dir), "%s/recv1", pki);
    /* the default limits; only the grace time is short, to keep the test short */
    struct receiver_opts o = {.root = root, .io_timeout_ms = 10000, .grace_ms = 3000};
    o.tls = wm_tls_ctx_new(dir, WM_TLS_SERVER, err, sizeof(err));
    assert_non_null(o.tls);
    struct receiver *r = receiver_new(&o, err, sizeof(err));
    assert_non_null(r);
    static struct serve_arg sa;
    sa = (struct serve_arg){r, repl_fixture_listen(addr, sizeof(addr))};
    assert_true(sa.fd >= 0);
    pthread_t st, tt;
    pthread_create(&st, NULL, serve_thread, &sa);
    pthread_detach(st);
    static struct trickle tr;
    tr.port = atoi(strrchr(addr, ':') + 1);
    pthread_create(&tt, NULL, trickle_thread, &tr);
    sleep(2); /* every trickler connected and sending */
    int rc = sync_to(addr, "trickled", err, sizeof(err));
    /* the guard cuts tricklers (deadline, or room for newcomers): wait for it */
    for (int i = 0; i < 100 && tr.cuts == 0; i++)
        usleep(100000);
    int cuts = tr.cuts;
    tr.stop = 1;
    pthread_join(tt, NULL);
    if (rc < 0)
        fail_msg("agent sync failed while %d clients trickled: %s", TRICKLERS, err);
    /* the guard cut tricklers (deadline or room for newcomers) */
    assert_true(cuts > 0);
    print_message("sync done with %d trickling clients; %d of their connections cut\n", TRICKLERS,
                  cuts);
}

/* Finding 4: the volume table never shrank and every pending volume kept
 * its staging files open (145 volumes under ulimit -n 300 ended the
 * receiver).  Now at most RECEIVER_IDLE_VOLS idle volumes stay open. */
static void test_idle_volumes_are_closed(void **state)
{
    (void)state;
    char err[512], dir[400], addr[64], vol[32], text[PROTO_TEXT_MAX], rroot[400];
    snprintf(dir, sizeof(dir), "%s/recv1", pki);
    snprintf(rroot, sizeof(rroot), "%s/root-idle", pki);
    mkdir(rroot, 0700);
    struct receiver_opts o = {.root = rroot, .io_timeout_ms = 10000};
    o.tls = wm_tls_ctx_new(dir, WM_TLS_SERVER, err, sizeof(err));
    struct receiver *r = o.tls ? receiver_new(&o, err, sizeof(err)) : NULL;
    assert_non_null(r);
    static struct serve_arg sa;
    sa = (struct serve_arg){r, repl_fixture_listen(addr, sizeof(addr))};
    pthread_t t;
    pthread_create(&t, NULL, serve_thread, &sa);
    pthread_detach(t);
    char saved[64];
    snprintf(saved, sizeof(saved), "%s", hostport);
    snprintf(hostport, sizeof(hostport), "%s", addr); /* begin() dials hostport */
    for (int i = 0; i < 100; i++) {
        snprintf(vol, sizeof(vol), "many-%03d", i);
        if (begin(vol, 1 << 20, text, sizeof(text)) != 0)
            fail_msg("BEGIN %s refused: %s", vol, text);
    }
    snprintf(hostport, sizeof(hostport), "%s", saved);
    int open_vols = receiver_open_volumes(r);
    print_message("100 volumes begun, %d still open\n", open_vols);
    assert_true(open_vols <= 33);
}

/* Finding 5: a full disk fails the one write, not the receiver.  A 3 MiB
 * tmpfs holds the receiver's root; a BEGIN of 2 MiB passes the free-space
 * check, then a filler takes the room and the stream's writes hit ENOSPC:
 * the stream gets an I/O error, the receiver keeps serving. */
static void test_enospc_fails_the_write_not_the_receiver(void **state)
{
    (void)state;
    char err[600], dir[400], addr[64], tiny[400], text[PROTO_TEXT_MAX] = "", cmd[600];
    snprintf(tiny, sizeof(tiny), "%s/tiny", pki);
    mkdir(tiny, 0700);
    if (mount("tmpfs", tiny, "tmpfs", 0, "size=3m,mode=0700") < 0)
        fail_msg("mount a tmpfs at %s (needs root): %s", tiny, strerror(errno));
    snprintf(dir, sizeof(dir), "%s/recv1", pki);
    struct receiver_opts o = {.root = tiny, .io_timeout_ms = 10000};
    o.tls = wm_tls_ctx_new(dir, WM_TLS_SERVER, err, sizeof(err));
    struct receiver *r = o.tls ? receiver_new(&o, err, sizeof(err)) : NULL;
    assert_non_null(r);
    static struct serve_arg sa;
    sa = (struct serve_arg){r, repl_fixture_listen(addr, sizeof(addr))};
    pthread_t t;
    pthread_create(&t, NULL, serve_thread, &sa);
    pthread_detach(t);
    /* BEGIN */
    uint8_t buf[512], *rb = NULL, type = 0;
    size_t cap = 0;
    struct proto_begin b = {.volume = "full", .size = 2 << 20, .bs = 4096, .nranges = 1, .full = 1};
    struct xport *x = xport_dial(addr, agent_ctx, 5000, err, sizeof(err));
    assert_non_null(x);
    frame_send(x, FRAME_BEGIN, buf, (uint32_t)proto_begin_encode(&b, buf, sizeof(buf)));
    int n = frame_recv(x, &type, &rb, &cap, FRAME_MAX_PAYLOAD, err, sizeof(err));
    assert_true(n > 0 && type == FRAME_BEGIN_OK);
    struct proto_begin_ok ok;
    assert_int_equal(proto_begin_ok_decode(rb, (size_t)n, &ok), 0);
    xport_free(x);
    /* the room goes */
    snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of=%s/filler bs=64k count=40 status=none", tiny);
    assert_int_equal(system(cmd), 0);
    /* STREAM: 2 MiB of incompressible blocks, one a frame, until refused */
    x = xport_dial(addr, agent_ctx, 5000, err, sizeof(err));
    struct proto_stream st = {.volume = "full", .gen = ok.pending_gen, .epoch = ok.epoch, .idx = 0};
    frame_send(x, FRAME_STREAM, buf, (uint32_t)proto_stream_encode(&st, buf, sizeof(buf)));
    n = frame_recv(x, &type, &rb, &cap, FRAME_MAX_PAYLOAD, err, sizeof(err));
    assert_true(n > 0 && type == FRAME_STREAM_OK);
    static uint8_t data[4096], out[65536];
    ZSTD_CCtx *z = ZSTD_createCCtx();
    int refused = 0;
    for (uint64_t i = 0; i < 512 && !refused; i++) {
        for (size_t k = 0; k < sizeof(data); k++)
            data[k] = (uint8_t)rand();
        struct frame_entry e = {.off = i * 4096, .len = 4096, .kind = FRAME_KIND_DATA};
        blockmap_digest(data, 4096, &e.digest);
        long fl = frame_blocks_encode(out, sizeof(out), (i + 1) * 4096, &e, 1, data, 4096, z, 1);
        if (frame_send(x, FRAME_BLOCKS, out, (uint32_t)fl) < 0)
            refused = 1; /* the receiver answered and hung up */
    }
    ZSTD_freeCCtx(z);
    n = frame_recv(x, &type, &rb, &cap, FRAME_MAX_PAYLOAD, err, sizeof(err));
    assert_true(n > 0 && type == FRAME_ERROR);
    struct proto_error pe;
    assert_int_equal(proto_error_decode(rb, (size_t)n, &pe), 0);
    if (pe.code != PROTO_E_IO || !strstr(pe.text, "write staging"))
        fail_msg("expected an I/O error for the full disk, got %u: %s", pe.code, pe.text);
    xport_free(x);
    free(rb);
    /* the receiver goes on: room back, a new volume begins */
    snprintf(cmd, sizeof(cmd), "%s/filler", tiny);
    unlink(cmd);
    char saved[64];
    snprintf(saved, sizeof(saved), "%s", hostport);
    snprintf(hostport, sizeof(hostport), "%s", addr);
    int code = begin("after", 1 << 20, text, sizeof(text));
    snprintf(hostport, sizeof(hostport), "%s", saved);
    if (code != 0)
        fail_msg("receiver does not serve after ENOSPC: %s", text);
    umount2(tiny, MNT_DETACH);
}

/* --- descriptor exhaustion of the real daemons --- */

/* Runs argv with at most nofile descriptors, output to log. */
static pid_t spawn(char *const argv[], const char *log, rlim_t nofile)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {nofile, nofile};
        setrlimit(RLIMIT_NOFILE, &rl);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid > 0 && nspawned < 4)
        spawned[nspawned++] = pid;
    return pid;
}

static int wait_port(int port)
{
    for (int i = 0; i < 100; i++) {
        int fd = flood_connect(port, 0, 1);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int ok = poll(&p, 1, 100) == 1 && !(p.revents & (POLLERR | POLLHUP));
        close(fd);
        if (ok)
            return 0;
        usleep(100000);
    }
    return -1;
}

static int log_has(const char *log, const char *what)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "grep -q '%s' '%s'", what, log);
    return system(cmd) == 0;
}

static int alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

/* Holds FLOOD connections from 20 addresses for 3 s (the daemon runs out
 * of descriptors), then lets them go; the daemon must still be running. */
static void flood(int port, pid_t pid, const char *log)
{
    static int fds[FLOOD];
    for (int i = 0; i < FLOOD; i++)
        fds[i] = flood_connect(port, i, 20);
    sleep(3);
    /* out of descriptors either in accept() or when taking a slot */
    if (!log_has(log, "accept_failed.*Too many open files") && !log_has(log, "out of descriptors"))
        fail_msg("the daemon never ran out of descriptors (see %s)", log);
    assert_true(alive(pid));
    for (int i = 0; i < FLOOD; i++)
        close(fds[i]);
    sleep(1);
    assert_true(alive(pid));
}

static volatile sig_atomic_t child_stop;

static void on_alarm(int sig)
{
    (void)sig;
    child_stop = 1;
}

/* accept() itself failing with EMFILE (a connection waits, no descriptor
 * is left): guard_accept logs, backs off and keeps going until stopped,
 * where the old accept loops returned (and the daemons exited). */
static void test_accept_emfile_is_backed_off_not_returned(void **state)
{
    (void)state;
    char addr[64], log[400];
    snprintf(log, sizeof(log), "%s/guard-emfile.log", pki);
    int lfd = repl_fixture_listen(addr, sizeof(addr));
    int cfd = flood_connect(atoi(strrchr(addr, ':') + 1), 0, 1);
    assert_true(lfd >= 0 && cfd >= 0);
    usleep(200000);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = fopen(log, "w");
        wm_log_set_stream(f);
        struct guard_opts go = {.name = "test"};
        struct guard *g = guard_new(&go);
        int top = fcntl(lfd, F_DUPFD, 0); /* the highest descriptor in use */
        struct rlimit rl = {(rlim_t)top, (rlim_t)top};
        close(top);
        setrlimit(RLIMIT_NOFILE, &rl); /* now accept has no descriptor */
        signal(SIGALRM, on_alarm);
        alarm(1);
        struct sockaddr_storage peer;
        int rc = guard_accept(g, lfd, &child_stop, &peer);
        fflush(f);
        _exit(rc == -EINTR ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    close(cfd);
    close(lfd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    if (!log_has(log, "accept_failed.*Too many open files"))
        fail_msg("no accept_failed line in %s", log);
}

static int free_port(void)
{
    char addr[64];
    int fd = repl_fixture_listen(addr, sizeof(addr));
    close(fd);
    return atoi(strrchr(addr, ':') + 1);
}

static void test_receiver_survives_descriptor_exhaustion(void **state)
{
    (void)state;
    char exe[600], listen_on[64], rroot[400], tls[400], log[400], err[512];
    int port = free_port();
    snprintf(exe, sizeof(exe), "%s/wavemill-receiver", bin);
    snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", port);
    snprintf(rroot, sizeof(rroot), "%s/root-emfile", pki);
    snprintf(tls, sizeof(tls), "%s/recv1", pki);
    snprintf(log, sizeof(log), "%s/receiver-emfile.log", pki);
    mkdir(rroot, 0700);
    char *argv[] = {exe, "serve", "--listen", listen_on, "--root", rroot, "--tls-dir", tls, NULL};
    pid_t pid = spawn(argv, log, 40);
    assert_int_equal(wait_port(port), 0);
    flood(port, pid, log);
    if (sync_to(listen_on, "after-emfile", err, sizeof(err)) < 0)
        fail_msg("sync after the flood failed: %s", err);
    assert_true(alive(pid));
    /* the daemon cannot dump core (secrets in its memory) */
    char limits[100];
    snprintf(limits, sizeof(limits), "grep -Eq 'Max core file size +0 +0' /proc/%d/limits",
             (int)pid);
    assert_int_equal(system(limits), 0);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static void test_agent_survives_descriptor_exhaustion(void **state)
{
    (void)state;
    char exe[600], listen_on[64], tls[400], log[400], sd[400], err[512];
    int port = free_port();
    snprintf(exe, sizeof(exe), "%s/wavemill-agent", bin);
    snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", port);
    snprintf(tls, sizeof(tls), "%s/agent1", pki);
    snprintf(log, sizeof(log), "%s/agent-emfile.log", pki);
    snprintf(sd, sizeof(sd), "%s/agent-state", pki);
    char *argv[] = {exe, "serve", "--listen", listen_on, "--tls-dir", tls, "--state-dir", sd, NULL};
    /* the control port's own caps (16 unauthenticated) keep it under 40
     * descriptors: 24 is what makes it run out */
    pid_t pid = spawn(argv, log, 24);
    assert_int_equal(wait_port(port), 0);
    flood(port, pid, log);
    char wdir[400];
    snprintf(wdir, sizeof(wdir), "%s/worker1", pki);
    struct repl_client *c = repl_client_new(wdir, err, sizeof(err));
    assert_non_null(c);
    struct repl_client_req req = {.op = REPL_CLIENT_SYNC,
                                  .id = "emfile-1",
                                  .disk = src,
                                  .volume = "agent-emfile",
                                  .to = hostport};
    struct repl_client_result res;
    int rc = repl_client_run(c, listen_on, &req, NULL, NULL, 60000, &res, err, sizeof(err));
    repl_client_free(c);
    if (rc < 0 || res.rc != 0)
        fail_msg("sync through the agent after the flood failed: %s %s", err, res.text);
    assert_true(alive(pid));
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_begin_over_max_volume_size_is_refused),
        cmocka_unit_test(test_begin_beyond_free_space_is_refused),
        cmocka_unit_test(test_error_replies_do_not_show_the_receivers_directories),
        cmocka_unit_test(test_trickling_clients_do_not_starve_an_agent),
        cmocka_unit_test(test_enospc_fails_the_write_not_the_receiver),
        cmocka_unit_test(test_idle_volumes_are_closed),
        cmocka_unit_test(test_accept_emfile_is_backed_off_not_returned),
        cmocka_unit_test(test_receiver_survives_descriptor_exhaustion),
        cmocka_unit_test(test_agent_survives_descriptor_exhaustion),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
