# deploy/demo/libvirt.sh — the demo's libvirt target (DEMO_PROVIDER=libvirt,
# the default): sourced by deploy/demo/lib.sh.  The source hosts get whole
# bootable disks (tests/hosts/host --boot); the workers' libvirt provider
# boots test and cutover instances from the replicas under TCG (or KVM);
# the proof reads the last record from the application inside each cutover
# instance.  Every domain, network and disk copy made here is removed on
# exit (demo_libvirt_cleanup).
#
# The caller may set:
#   DEMO_LV_SUBNETS  "a.b.c a.b.d": the /24s of the test and live networks
#                    [10.239.10 10.239.11]; tests running beside the demo
#                    pick others
#   DEMO_LV_URI      [qemu:///system]

DEMO_LV_SUBNETS=${DEMO_LV_SUBNETS:-"10.239.10 10.239.11"}
DEMO_LV_URI=${DEMO_LV_URI:-qemu:///system}

lv_virsh() { virsh -q -c "$DEMO_LV_URI" "$@"; }

# Names of this run's networks and bridges (bridge names: 15 chars at most).
demo_libvirt_setup() {
    local tag
    tag=$(printf %s "$DEMO_NAME" | sha1sum | cut -c1-6)
    LV_TEST_NET=wm-$DEMO_NAME-test LV_LIVE_NET=wm-$DEMO_NAME-live
    LV_TEST_BR=wmb${tag}t LV_LIVE_BR=wmb${tag}l
    read -r LV_TEST_PRE LV_LIVE_PRE <<<"$DEMO_LV_SUBNETS"
    LV_STATE=$DEMO_DIR/libvirt
    mkdir -p "$LV_STATE"
    lv_virsh version >/dev/null 2>&1 ||
        demo_fail "libvirt at $DEMO_LV_URI does not answer (deploy/local/up starts it; DEMO_PROVIDER=aws uses moto instead)"
    LV_STARTED=1
}

demo_libvirt_worker_args() {
    WORKER_ARGS+=(--set libvirt.uri="$DEMO_LV_URI" --set libvirt.replica_dir="$RX_ROOT"
                  --set libvirt.state_dir="$LV_STATE"
                  --set libvirt.test_network="$LV_TEST_NET" --set libvirt.test_bridge="$LV_TEST_BR"
                  --set libvirt.test_address="$LV_TEST_PRE.1"
                  --set libvirt.live_network="$LV_LIVE_NET" --set libvirt.live_bridge="$LV_LIVE_BR"
                  --set libvirt.live_address="$LV_LIVE_PRE.1"
                  --set libvirt.probe_url='http://{address}/cgi-bin/last'
                  --set libvirt.boot_timeout="${DEMO_LV_BOOT_TIMEOUT:-150s}")
}

# The validation probe reads the last record from the app in the instance.
demo_libvirt_probes() {
    printf '[{"type":"http","url":"http://{address}/cgi-bin/last","name":"app-last-record"}]'
}

# What the cutover instance's application answers now ("" if nothing).
demo_libvirt_app_record() { # SERVER
    local addr
    addr=$(demo_sql "SELECT instance_address FROM servers WHERE name = '$1'")
    [ -n "$addr" ] || return 0
    curl -s -m 5 "http://$addr/cgi-bin/last" 2>/dev/null | tail -n 1
}

# The proof beyond the volumes: each cutover instance booted from its own
# disk (console line) and its application serves the source's last record.
demo_libvirt_prove() {
    local h name last got dom bad=0
    for h in $DEMO_HOSTS; do
        name=${h%%:*}
        last=$(tail -n 1 "$WM_HOSTS_DIR/$name/service/records.log" 2>/dev/null)
        got=$(demo_libvirt_app_record "$name")
        dom=$(demo_sql "SELECT instance_id FROM servers WHERE name = '$name'")
        if [ -z "$last" ] || [ "$last" != "$got" ]; then
            demo_log "PROOF FAILED: $name: source's last record '$last', the app in cutover instance $dom answers '$got'"
            bad=1
            continue
        fi
        demo_log "proof: $name: the app inside cutover instance $dom ($(demo_sql "SELECT instance_address FROM servers WHERE name = '$name'")) answers the source's last record '${last% t=*}'"
        grep -a 'WAVEMILL-BOOT-DONE' "$LV_STATE/$dom.console.log" 2>/dev/null | tr -d '\r' | head -1 |
            sed "s/^/       console of $dom: /" >&2
    done
    return $bad
}

# Per server: boot verification (launch_test claimed -> verify_test done)
# and cutover downtime (stop_source_services done = source app stopped ->
# post_cutover done = the app answered on the live network).
demo_libvirt_times() {
    echo
    echo "=== libvirt: boot verification and cutover downtime (seconds)"
    { echo "SERVER TEST_BOOT_VERIFIED_S CUTOVER_BOOT_S FINAL_DELTA_S DOWNTIME_S"; demo_psql -F ' ' <<'SQL'; } | column -t
SELECT s.name,
  round(extract(epoch FROM max(t.finished_at) FILTER (WHERE t.kind = 'verify_test')
                       - min(t.claimed_at) FILTER (WHERE t.kind = 'launch_test'))::numeric, 1),
  round(extract(epoch FROM max(t.finished_at) FILTER (WHERE t.kind = 'launch_cutover')
                       - max(t.claimed_at) FILTER (WHERE t.kind = 'launch_cutover'))::numeric, 1),
  round(extract(epoch FROM max(t.finished_at) FILTER (WHERE t.kind = 'final_delta_sync')
                       - max(t.claimed_at) FILTER (WHERE t.kind = 'final_delta_sync'))::numeric, 1),
  round(extract(epoch FROM max(t.finished_at) FILTER (WHERE t.kind = 'post_cutover')
                       - max(t.finished_at) FILTER (WHERE t.kind = 'stop_source_services'))::numeric, 1)
FROM servers s JOIN tasks t ON t.server_id = s.id AND t.state = 'SUCCEEDED'
GROUP BY s.name ORDER BY s.name;
SQL
    echo "(deltas while the test instance ran: $(demo_sql "SELECT count(*) FROM tasks t WHERE t.kind = 'delta_sync' AND t.state = 'SUCCEEDED'"))"
    lv_virsh list --all 2>/dev/null | grep " wm-" | sed 's/^/domain  /'
}

demo_libvirt_cleanup() {
    [ "${LV_STARTED:-0}" = 1 ] || return 0
    local h d
    for h in $DEMO_HOSTS; do
        for d in $(lv_virsh list --all --name 2>/dev/null | grep "^wm-${h%%:*}-"); do
            lv_virsh destroy "$d" >/dev/null 2>&1
            lv_virsh undefine "$d" >/dev/null 2>&1
        done
    done
    for d in "$LV_TEST_NET" "$LV_LIVE_NET"; do
        lv_virsh net-destroy "$d" >/dev/null 2>&1
        lv_virsh net-undefine "$d" >/dev/null 2>&1
    done
    [ "$DEMO_KEEP" = 1 ] || rm -rf "$LV_STATE"
}
