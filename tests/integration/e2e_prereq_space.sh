#!/usr/bin/env bash
# One source host has no room for the agent (its agent folder is a 128 KiB
# tmpfs): that server is stopped at prereq_check with the check named
# (prereq agent_space) before anything is installed on it, and the rest of
# the wave goes on to DONE with its data proven.
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
wm wave cutover "$DEMO_WAVE" --at "$DEMO_CUTOVER" --yes >/dev/null || demo_fail "wave cutover"
wm wave start "$DEMO_WAVE" >/dev/null || demo_fail "wave start"
end=$((SECONDS + DEMO_BOUND))
until [ "$(demo_sql "SELECT string_agg(name || '=' || lifecycle, ' ' ORDER BY name) FROM servers")" = "e2p=DONE e2q=FAILED" ]; do
    [ $SECONDS -lt $end ] || { wm status --wave "$DEMO_WAVE" >&2; demo_fail "wanted e2p DONE, e2q FAILED"; }
    sleep 1
done
err=$(demo_sql "SELECT current_step || ': ' || coalesce(error, '') FROM servers WHERE name = 'e2q'")
demo_log "e2q stopped at $err"
case $err in
"prereq_check: "*"prereq agent_space: "*"/agent has "*" MiB free, needs "*) ;;
*) demo_fail "e2q did not fail at prereq_check naming agent_space: $err" ;;
esac
# the task itself says so, and nothing after prereq_check ran for e2q
terr=$(demo_sql "SELECT t.state || ' ' || coalesce(t.error, '') FROM tasks t JOIN servers s ON s.id = t.server_id
                 WHERE s.name = 'e2q' AND t.kind = 'prereq_check' ORDER BY t.id DESC LIMIT 1")
case $terr in
"FAILED "*"prereq agent_space: "*) ;;
*) demo_fail "e2q's prereq_check task: $terr" ;;
esac
later=$(demo_sql "SELECT count(*) FROM tasks t JOIN servers s ON s.id = t.server_id
                  WHERE s.name = 'e2q' AND t.kind <> 'prereq_check'")
[ "$later" = 0 ] || demo_fail "e2q has $later task(s) after its failed prereq_check"
[ -z "$(ls -A "$WM_HOSTS_DIR/e2q/agent")" ] || demo_fail "something was installed on e2q: $(ls "$WM_HOSTS_DIR/e2q/agent")"
wm status --wave "$DEMO_WAVE"
DEMO_HOSTS="e2p:10.231.161.2/24"
demo_prove || demo_fail "data proof of e2p"
demo_log "PASS: e2q reported ($err), e2p migrated"
