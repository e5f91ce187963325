#!/usr/bin/env bash
# `make demo` with the libvirt target, smaller: two source hosts whose
# disk0 is a whole bootable disk (tests/hosts/host --boot) migrated by a
# scheduler and two workers; the libvirt provider boots each test instance
# from a copy of the committed replica on an isolated network (TCG here),
# deltas go on while it runs, then cutover, the move to the live network
# and validation.  Passes when the wave is DONE, the volumes equal the
# sources (cmp), each cutover instance's application answers the source's
# last record, and decommission left no test domain or disk copy.
DEMO_NAME=e2elv$$
DEMO_TEST=1
DEMO_PROVIDER=libvirt
DEMO_HOSTS="lve1:10.231.71.2/24 lve2:10.231.72.2/24"
DEMO_LV_SUBNETS="10.239.$((40 + $$ % 80)) 10.239.$((140 + $$ % 80))"
DEMO_DISK=64M
DEMO_CUTOVER=+100s
DEMO_DELTA=4s
DEMO_BOUND=420
DEMO_DIR=/var/tmp/wavemill-test-e2elv$$
. "$(dirname "$0")/../../deploy/demo/lib.sh"
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, libvirt)"; exit 1; }

demo_setup
demo_run_wave
[ "$WAVE_STATE" = DONE ] || { wm status --wave "$DEMO_WAVE" >&2; demo_fail "wave ended $WAVE_STATE"; }
demo_prove || demo_fail "data proof"
demo_summary
# every server got deltas committed while its test instance ran (it lives
# from verify_test to decommission; the final delta is one of them); the
# volumes' cmp above shows the replica equals the source afterwards
deltas=$(demo_sql "SELECT count(*) FROM tasks d JOIN tasks v ON v.server_id = d.server_id
    AND v.kind = 'verify_test' AND v.state = 'SUCCEEDED'
    WHERE d.kind IN ('delta_sync', 'final_delta_sync') AND d.state = 'SUCCEEDED'
      AND d.finished_at > v.finished_at")
[ "$deltas" -ge 2 ] || demo_fail "only $deltas delta syncs committed while the test instances ran"
bad=$(demo_sql "SELECT count(*) FROM servers WHERE coalesce(validation->>'ok', '') <> 'true'")
[ "$bad" = 0 ] || demo_fail "$bad server(s) without a passing validation report"
for h in $DEMO_HOSTS; do
    n=${h%%:*}
    left=$(lv_virsh list --all --name | grep -c "^wm-$n-t-" || true)
    [ "$left" = 0 ] || demo_fail "$left test domain(s) of $n left after decommission"
    ! ls "$LV_STATE"/wm-"$n"-t-* >/dev/null 2>&1 || demo_fail "disk copies of $n's test domain left"
done
demo_log "PASS: wave DONE in ${WAVE_SECONDS}s, $deltas delta syncs, volumes and apps proven"
