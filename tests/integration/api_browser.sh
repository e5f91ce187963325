#!/usr/bin/env bash
# The dashboard in headless chromium (tests/peers/browser_peer.py): login,
# a running sim wave's progress changing live, pause/resume buttons, the
# cutover confirmation, a viewer's refused button.  Screenshots are written
# beside the test's logs.
. "$(dirname "$0")/../support/orch_lib.sh"
. "$ORCH_REPO/tests/support/api_lib.sh"
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] ||
    orch_fail "chromium and chromium-driver are needed (deploy/local/install-deps installs them)"
orch_setup api_browser
api_tokens
# initial sync long enough to watch, progress reported as it goes
api_sim_wave w1 3 --set sim.duration=300ms --set sim.durations=initial_sync=20s,delta_sync=2s
"$WM_BIN/wavemill" wave start w1 >/dev/null || orch_fail "wave start"
api_start
export SHOTS=$ORCH_LOGS
timeout 240 "$WM_PY" "$ORCH_REPO/tests/peers/browser_peer.py" || orch_fail "browser_peer"
