/* rsnap_copy: a copy of exactly the committed generation, never of an
 * apply in progress, without writing the replica. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rsnap.h"
#include "volstate.h"

#define VOL "v1"
#define SIZE (1 << 20)

static char root[64];

static void write_state(uint64_t gen, int applying)
{
    struct volstate st;
    char p[4200], err[256];
    memset(&st, 0, sizeof(st));
    st.committed_gen = gen;
    st.committed_size = SIZE;
    st.committed_bs = 4096;
    st.applying = applying;
    st.pending = applying;
    st.pending_gen = gen + 1;
    st.pending_size = SIZE;
    st.pending_bs = 4096;
    snprintf(p, sizeof(p), "%s/%s.state", root, VOL);
    assert_int_equal(volstate_save(p, &st, err, sizeof(err)), 0);
}

/* The image: a hole, then 4 KiB of byte c at 256 KiB. */
static void write_image(int c)
{
    char p[4200], buf[4096];
    snprintf(p, sizeof(p), "%s/%s.img", root, VOL);
    int fd = open(p, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, SIZE), 0);
    memset(buf, c, sizeof(buf));
    assert_int_equal(pwrite(fd, buf, sizeof(buf), 256 * 1024), (ssize_t)sizeof(buf));
    close(fd);
}

static int byte_at(const char *path, off_t off)
{
    unsigned char c = 0;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, off), 1);
    close(fd);
    return c;
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/wm-rsnap-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd);
}

static void test_copy_is_the_committed_generation(void **state)
{
    (void)state;
    char dst[4200], err[256];
    uint64_t gen = 0;
    int refl = -1;
    write_state(3, 0);
    write_image('a');
    snprintf(dst, sizeof(dst), "%s/clone.img", root);
    assert_int_equal(rsnap_copy(root, VOL, dst, &gen, &refl, err, sizeof(err)), 0);
    assert_int_equal(gen, 3);
    struct stat sb;
    assert_int_equal(stat(dst, &sb), 0);
    assert_int_equal(sb.st_size, SIZE);
    assert_int_equal(byte_at(dst, 256 * 1024), 'a');
    assert_int_equal(byte_at(dst, 0), 0);
    /* the clone is its own file: writing it leaves the replica as it was */
    int fd = open(dst, O_WRONLY);
    assert_int_equal(pwrite(fd, "z", 1, 256 * 1024), 1);
    close(fd);
    snprintf(dst, sizeof(dst), "%s/%s.img", root, VOL);
    assert_int_equal(byte_at(dst, 256 * 1024), 'a');
}

static void test_unfinished_apply_is_refused(void **state)
{
    (void)state;
    char dst[4200], err[256];
    uint64_t gen = 0;
    int refl;
    write_state(3, 1);
    write_image('b');
    snprintf(dst, sizeof(dst), "%s/clone.img", root);
    assert_int_equal(rsnap_copy(root, VOL, dst, &gen, &refl, err, sizeof(err)), -EAGAIN);
    assert_non_null(strstr(err, "unfinished"));
    assert_int_equal(access(dst, F_OK), -1);
}

static void test_never_synced_volume_is_enoent(void **state)
{
    (void)state;
    char dst[4200], err[256];
    uint64_t gen;
    int refl;
    snprintf(dst, sizeof(dst), "%s/clone.img", root);
    assert_int_equal(rsnap_copy(root, "nothing", dst, &gen, &refl, err, sizeof(err)), -ENOENT);
}

/* A commit holding the lock (a child process, as the receiver is another
 * process) makes the copy wait, and the copy then sees the new generation. */
static void test_copy_waits_for_a_commit(void **state)
{
    (void)state;
    char dst[4200], err[256];
    uint64_t gen = 0;
    int refl, pipefd[2];
    write_state(3, 0);
    write_image('a');
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = rsnap_lock(root, VOL, LOCK_EX);
        if (write(pipefd[1], "x", 1) != 1)
            _exit(1);
        write_state(4, 1); /* the commit: applying, the image half new */
        usleep(300 * 1000);
        write_image('c');
        write_state(4, 0);
        rsnap_unlock(fd);
        _exit(fd >= 0 ? 0 : 1);
    }
    char c;
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    snprintf(dst, sizeof(dst), "%s/clone.img", root);
    assert_int_equal(rsnap_copy(root, VOL, dst, &gen, &refl, err, sizeof(err)), 0);
    assert_int_equal(gen, 4);
    assert_int_equal(byte_at(dst, 256 * 1024), 'c');
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(WEXITSTATUS(st), 0);
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_is_the_committed_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unfinished_apply_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_synced_volume_is_enoent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_waits_for_a_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
