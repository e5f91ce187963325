#!/usr/bin/env bash
# The test harness itself: tests/run, copied into a scratch tree whose
# Makefile lists fake tests (one cmocka program, tests/support/harness/
# fake_cmocka.c, copied under the name of each behaviour, and small
# scripts), must fail the run for a listed program that is not built, one
# that hangs past its deadline, one that exits 0 without a summary or in
# the middle of a group; must count a failed group setup as its tests
# failed and a failed group teardown as a failure; must count an explicit
# skip (cmocka skip() or a script's exit 77) as skipped, and as failed
# under CI=1 unless tests/ci-skips allows it.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/wm_harness_selftest.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   - $1"; }
no() {
    echo "FAIL - $1"
    fails=$((fails + 1))
}

# The scratch tree: tests/run as it is, a Makefile that lists the fakes.
mkdir -p "$T/tests/integration" "$T/bin/tests"
cp "$REPO/tests/run" "$T/tests/run"
programs="ok fail skip hang slow exit0 setup teardown nosummary gone"
scripts="pass fail skip hang"
{
    printf 'print-tests:\n\t@printf "%%s\\n"'
    for p in $programs; do printf ' bin/tests/test_fake_%s' "$p"; done
    for s in $scripts; do printf ' tests/integration/script_%s.sh' "$s"; done
    printf '\n'
} >"$T/Makefile"
gcc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$T/fake_cmocka" \
    "$REPO/tests/support/harness/fake_cmocka.c" $(pkg-config --cflags --libs cmocka) ||
    { echo "FAIL - cannot build fake_cmocka"; exit 1; }
for p in $programs; do
    [ "$p" = gone ] || cp "$T/fake_cmocka" "$T/bin/tests/test_fake_$p"
done
echo 'echo fine' >"$T/tests/integration/script_pass.sh"
echo 'echo "broken"; exit 1' >"$T/tests/integration/script_fail.sh"
echo 'echo "skip: no widget on this machine"; exit 77' >"$T/tests/integration/script_skip.sh"
# a hang with a child: the deadline must end the child too
echo 'sleep 600 & echo $! >"$(dirname "$0")/../../hang.pid"; wait' >"$T/tests/integration/script_hang.sh"
printf 'test_fake_slow 15 # sleeps 3 s a test\n' >"$T/tests/deadlines"
printf '# nothing may skip in CI\n' >"$T/tests/ci-skips"

# harness [VAR=value...] PATTERN: tests/run in the scratch tree, output in
# $T/out, a 2 s deadline by default; returns its exit code
harness() {
    (cd "$T" && env -u CI -u WM_TEST_DEADLINE_SCALE -u BIN WM_TEST_DEADLINE=2 \
        WM_TEST_KILL_GRACE=1 WM_TEST_LOGS="$T/logs" "${@:1:$#-1}" \
        timeout 120 tests/run "${@: -1}") >"$T/out" 2>&1
}
# expect LABEL RC LAST_LINE [TEXT]: the last run exited RC, ended with
# LAST_LINE and printed TEXT somewhere
expect() {
    local label=$1 want_rc=$2 want_last=$3 text=${4:-} rc=$RC last
    last=$(tail -1 "$T/out")
    if [ "$rc" != "$want_rc" ] || [ "$last" != "$want_last" ]; then
        no "$label: exit $rc, last line '$last'; wanted exit $want_rc, '$want_last'"
        sed 's/^/    | /' "$T/out"
    elif [ -n "$text" ] && ! grep -qF -- "$text" "$T/out"; then
        no "$label: output lacks '$text'"
        sed 's/^/    | /' "$T/out"
    else
        ok "$label"
    fi
}
run() {
    harness "$@"
    RC=$?
}

run fake_ok
expect "three passing cases count as 3 passed" 0 "3 passed, 0 failed, 0 skipped"
run fake_fail
expect "a failing case counts as failed" 1 "2 passed, 1 failed, 0 skipped" "test_fake_fail: 1 failed"
run fake_gone
expect "a listed program that is not built fails the run" 1 "0 passed, 1 failed, 0 skipped" \
    "missing: bin/tests/test_fake_gone is not built"
run test_fake_
expect "every program's cases summed; the run fails" 1 "18 passed, 11 failed, 1 skipped" \
    "failed: test_fake_fail test_fake_hang test_fake_exit0 test_fake_setup test_fake_teardown test_fake_nosummary test_fake_gone"
t0=$SECONDS
run fake_hang
expect "a program that hangs (and ignores SIGTERM) is killed at its deadline and fails" 1 \
    "1 passed, 2 failed, 0 skipped" "test_fake_hang: past its deadline, killed"
[ $((SECONDS - t0)) -lt 60 ] && ok "the hang ended at its deadline" ||
    no "the hang took $((SECONDS - t0)) s with a 2 s deadline"
run script_hang
expect "a script that hangs is killed at its deadline and fails" 1 \
    "0 passed, 1 failed, 0 skipped" "script_hang: past its deadline, killed"
# gone or a zombie (its reaper may be slow) counts as ended
alive() { case "$(ps -o stat= -p "$1" 2>/dev/null)" in "" | Z*) return 1 ;; esac; }
if [ -s "$T/hang.pid" ] && ! alive "$(cat "$T/hang.pid")"; then
    ok "the hung script's child was killed with it"
else
    no "the hung script's child $(cat "$T/hang.pid" 2>/dev/null) survived (or never started)"
    kill "$(cat "$T/hang.pid" 2>/dev/null)" 2>/dev/null
fi
run fake_slow
expect "tests/deadlines gives a slow program more than the default" 0 "3 passed, 0 failed, 0 skipped" \
    "test_fake_slow (deadline 15s)"
run fake_nosummary
expect "a program exiting 0 without a cmocka summary fails" 1 "0 passed, 1 failed, 0 skipped" \
    "without a cmocka summary"
run fake_exit0
expect "a program exiting 0 inside a group fails the group's remaining cases" 1 \
    "1 passed, 2 failed, 0 skipped" "exited 0 inside a group"
run fake_setup
expect "a failed group setup counts each of its tests as failed" 1 "3 passed, 3 failed, 0 skipped"
run fake_teardown
expect "a failed group teardown (cmocka exits 0) is a failure" 1 "3 passed, 1 failed, 0 skipped" \
    "of which 1 group teardown"
run fake_skip
expect "cmocka skip() counts as skipped" 0 "2 passed, 0 failed, 1 skipped" \
    "test_fake_skip: 1 skipped: skips"
run CI=1 fake_skip
expect "cmocka skip() under CI=1 is a failure" 1 "2 passed, 1 failed, 0 skipped" "not in tests/ci-skips"
run script_skip
expect "a script exiting 77 counts as skipped, with its reason" 0 "0 passed, 0 failed, 1 skipped" \
    "skip: no widget on this machine"
run CI=1 script_skip
expect "a script's skip under CI=1 is a failure" 1 "0 passed, 1 failed, 0 skipped" "not in tests/ci-skips"
printf 'script_skip  widgets exist only on the lab machines\ntest_fake_skip  the case needs a widget\n' >>"$T/tests/ci-skips"
run CI=1 script_skip
expect "a skip tests/ci-skips allows passes under CI=1" 0 "0 passed, 0 failed, 1 skipped"
run CI=1 fake_skip
expect "a program's skip tests/ci-skips allows passes under CI=1" 0 "2 passed, 0 failed, 1 skipped"
run script_
expect "scripts: exit 0 passes, exit 1 fails, the slowest are listed" 1 \
    "1 passed, 2 failed, 1 skipped" "=== slowest"
run no_such_test
expect "a pattern that matches nothing fails" 1 "0 passed, 1 failed, 0 skipped"
rm -f "$T/Makefile"
run fake_ok
[ "$RC" -ne 0 ] && grep -qF "cannot get the list of tests" "$T/out" &&
    ok "no build list: the run fails" || no "without a build list tests/run exited $RC"

echo "harness_selftest: $fails failed"
[ "$fails" -eq 0 ]
