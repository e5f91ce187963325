/* A cmocka program that misbehaves on purpose, for
 * tests/integration/harness_selftest.sh: the name it is run under
 * (test_fake_<mode>) picks what it does, so one build serves every case. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void passes(void **state)
{
    (void)state;
    assert_int_equal(2 + 2, 4);
}

static void fails(void **state)
{
    (void)state;
    assert_int_equal(2 + 2, 5);
}

static void skips(void **state)
{
    (void)state;
    skip();
}

/* ignores SIGTERM so only the harness's SIGKILL ends it */
static void hangs(void **state)
{
    (void)state;
    signal(SIGTERM, SIG_IGN);
    for (;;)
        pause();
}

static void takes_three_seconds(void **state)
{
    (void)state;
    sleep(3);
}

/* an exit(0) in the middle of a group: no summary follows */
static void exits_zero(void **state)
{
    (void)state;
    exit(0);
}

static int refuses(void **state)
{
    (void)state;
    return -1;
}

#define THREE(t)                                                                                   \
    {                                                                                              \
        cmocka_unit_test(passes), cmocka_unit_test(t), cmocka_unit_test(passes)                    \
    }

static int run_mode(const char *mode)
{
    const struct CMUnitTest ok[] = THREE(passes);
    const struct CMUnitTest fail[] = THREE(fails);
    const struct CMUnitTest skip[] = THREE(skips);
    const struct CMUnitTest hang[] = THREE(hangs);
    const struct CMUnitTest slow[] = THREE(takes_three_seconds);
    const struct CMUnitTest quit[] = THREE(exits_zero);

    if (strcmp(mode, "ok") == 0)
        return cmocka_run_group_tests_name("ok", ok, NULL, NULL);
    if (strcmp(mode, "fail") == 0)
        return cmocka_run_group_tests_name("fail", fail, NULL, NULL);
    if (strcmp(mode, "skip") == 0)
        return cmocka_run_group_tests_name("skip", skip, NULL, NULL);
    if (strcmp(mode, "hang") == 0)
        return cmocka_run_group_tests_name("hang", hang, NULL, NULL);
    if (strcmp(mode, "slow") == 0)
        return cmocka_run_group_tests_name("slow", slow, NULL, NULL);
    if (strcmp(mode, "exit0") == 0)
        return cmocka_run_group_tests_name("exit0", quit, NULL, NULL);
    if (strcmp(mode, "setup") == 0) /* a passing group, then a refused one */
        return cmocka_run_group_tests_name("ok", ok, NULL, NULL) |
               cmocka_run_group_tests_name("setup", ok, refuses, NULL);
    if (strcmp(mode, "teardown") == 0) /* cmocka exits 0 here */
        return cmocka_run_group_tests_name("teardown", ok, NULL, refuses);
    if (strcmp(mode, "nosummary") == 0) {
        printf("did some work, ran no group\n");
        return 0;
    }
    fprintf(stderr, "fake_cmocka: unknown mode '%s'\n", mode);
    return 2;
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    const char *prefix = "test_fake_";
    if (strncmp(name, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "fake_cmocka: run me as test_fake_<mode>\n");
        return 2;
    }
    return run_mode(name + strlen(prefix));
}
