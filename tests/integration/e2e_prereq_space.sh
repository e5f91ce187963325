#!/usr/bin/env bash
# One source host has no room for the agent (its agent folder is a 128 KiB
# tmpfs): that server is stopped with the reason named (prereq agent_space,
# or the agent install running out of space), and the rest of the wave
# goes on to DONE with its data proven.
DEMO_NAME=e2ep$$
DEMO_TEST=1
DEMO_PROVIDER=exec   # the exec provider path (the other e2e tests use aws)
DEMO_HOSTS="e2p:10.231.161.2/24 e2q:10.231.162.2/24"
DEMO_FULL_HOSTS="e2q"
DEMO_DISK=16M
DEMO_CUTOVER=+15s
DEMO_DELTA=4s
DEMO_BOUND=120
DEMO_DIR=/var/tmp/wavemill-test-e2ep$$
. "$(dirname "$0")/../../deploy/demo/lib.sh"
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 1; }

demo_setup
demo_start_factory
wm wave cutover "$DEMO_WAVE" --at "$DEMO_CUTOVER" >/dev/null || demo_fail "wave cutover"
wm wave start "$DEMO_WAVE" >/dev/null || demo_fail "wave start"
end=$((SECONDS + DEMO_BOUND))
until [ "$(demo_sql "SELECT string_agg(name || '=' || lifecycle, ' ' ORDER BY name) FROM servers")" = "e2p=DONE e2q=FAILED" ]; do
    [ $SECONDS -lt $end ] || { wm status --wave "$DEMO_WAVE" >&2; demo_fail "wanted e2p DONE, e2q FAILED"; }
    sleep 1
done
err=$(demo_sql "SELECT current_step || ': ' || coalesce(error, '') FROM servers WHERE name = 'e2q'")
demo_log "e2q stopped at $err"
case $err in
prereq_check:*agent_space* | agent_install:*"No space"* | agent_install:*space*) ;;
*) demo_fail "e2q failed without naming the missing space: $err" ;;
esac
wm status --wave "$DEMO_WAVE"
DEMO_HOSTS="e2p:10.231.161.2/24"
demo_prove || demo_fail "data proof of e2p"
demo_log "PASS: e2q reported ($err), e2p migrated"
