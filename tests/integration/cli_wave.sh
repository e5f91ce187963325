#!/usr/bin/env bash
# `wavemill wave|server|status` against the real PostgreSQL of the local
# stack, in a database of its own: create/list/show (JSON parsed with
# Python's json module), start/pause/resume/cutover through orch_ops,
# server show/retry/skip, status, one-line errors with exit codes, and an
# audit_log row (with the person's name) for every operator action.
set -u
cd "$(dirname "$0")/../.."
. tests/support/cli_lib.sh
cli_db_init wm_test_cli_wave_$$ wm_cli_wave
PY=${WM_PY:-python3}
[ -x "$PY" ] || PY=python3

# the audit log must name the person: SUDO_USER first, then USER
unset SUDO_USER
export USER=operator-test

# json EXPR: evaluates a Python expression over d = the JSON on stdout
json() { "$PY" -c "import json,sys; d=json.load(open('$TMP/out')); print($1)" 2>&1; }

cli_db_create migrate
run 0 "$WAVEMILL" import tests/data/inventory_good.csv || exit 1

# --- create / list / show
run 0 "$WAVEMILL" wave create w-new --cutover-at 2030-01-02T03:04:05Z --max-parallel 3 --priority 5 &&
    has "create" out "wave 'w-new' created"
same "create: fields stored" "$(q "SELECT max_parallel || ' ' || priority || ' ' || status || ' ' ||
    to_char(cutover_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM waves WHERE name = 'w-new'")" \
    "3 5 CREATED 2030-01-02 03:04:05"
run 0 "$WAVEMILL" wave create w-rel --cutover-at +10m &&
    same "create: relative time" "$(q "SELECT cutover_at BETWEEN now() + interval '9 min'
                                       AND now() + interval '11 min' FROM waves WHERE name = 'w-rel'")" "t"
run 1 "$WAVEMILL" wave create w-new && same "create twice: one-line error" "$(cat "$TMP/err")" \
    "wavemill: wave create: wave 'w-new' already exists (change it with 'wave set')"
run 2 "$WAVEMILL" wave create w-bad --max-parallel 0 && has "create: bad limit" err "--max-parallel: '0'"
run 2 "$WAVEMILL" wave create w-bad --cutover-at tomorrow && has "create: bad time" err "'tomorrow' is not a time"
run 0 "$WAVEMILL" wave set w-rel --priority 9 && same "set" "$(q "SELECT priority FROM waves WHERE name = 'w-rel'")" "9"

run 0 "$WAVEMILL" wave list && has "list: human" out "w-new" && first "list: header" out "WAVE"
run 0 "$WAVEMILL" wave list --json &&
    same "list --json: waves by priority" "$(json '[w["name"] for w in d["waves"]]')" \
        "['w-rel', 'w-new', 'wave-a', 'wave-b']"
run 0 "$WAVEMILL" wave show wave-a --json &&
    same "show --json: servers by lifecycle, bytes" \
        "$(json 'd["wave"]["servers"], d["wave"]["servers_by_lifecycle"]["NOT_READY"], d["wave"]["size_bytes"], d["running_tasks"], d["failed_tasks"]')" \
        "4 4 708669603840 [] []"
run 0 "$WAVEMILL" --json wave show w-new &&
    same "global --json: cutover and limits" "$(json 'd["wave"]["cutover_at"], d["wave"]["max_parallel"], d["wave"]["cutover_open"]')" \
        "2030-01-02T03:04:05Z 3 False"
run 0 "$WAVEMILL" wave show wave-a && has "show: human summary" out "servers 4: NOT_READY 4"
run 1 "$WAVEMILL" wave show nope && same "show: unknown wave" "$(cat "$TMP/err")" "wavemill: wave show: no wave named 'nope'"
run 1 "$WAVEMILL" --json wave show nope && same "show --json: error object" "$(json 'd["ok"], d["error"]')" \
    "False no wave named 'nope'"

# --- pre-flight: every problem of the inventory in one run, and start refuses on them
run 1 "$WAVEMILL" wave check wave-a && has "check: credential missing (1)" out "bill-db01                credential 'ssh-billing' is not in the store" &&
    has "check: credential missing (2)" out "bill-web02               credential 'ssh-billing' is not in the store" &&
    has "check: relative disk paths" out "crm-app01                2 disk path(s) not absolute" &&
    has "check: summary" out "wave 'wave-a': 4 server(s) checked, 5 error(s), 2 warning(s)"
run 1 "$WAVEMILL" --json wave check wave-b &&
    same "check --json: every problem, per server" \
        "$(json 'd["ok"], d["errors"], d["warnings"], sorted(set(p["server"] for p in d["problems"] if p["level"] == "error"))')" \
        "False 2 2 ['hr-db01', 'hr-web01']"
run 1 "$WAVEMILL" wave start wave-a && has "start: refused on pre-flight errors" err "5 pre-flight error(s)"
same "start refused: still CREATED" "$(q "SELECT status FROM waves WHERE name = 'wave-a'")" "CREATED"
run 1 "$WAVEMILL" wave start w-new && has "start: an empty wave is refused" out "the wave has no servers"
run 1 "$WAVEMILL" wave start w-new --force && has "start --force: an empty wave still refused" err "has no servers: nothing to start"
same "empty wave not started" "$(q "SELECT status FROM waves WHERE name = 'w-new'")" "CREATED"

# --- state changes (orch_ops)
run 0 "$WAVEMILL" wave start wave-a --force && has "start" out "wave 'wave-a' started"
same "start: RUNNING" "$(q "SELECT status FROM waves WHERE name = 'wave-a'")" "RUNNING"
run 0 "$WAVEMILL" wave start wave-a --force && has "start again: nothing changed, exit 0" out "nothing changed"
run 0 "$WAVEMILL" wave pause wave-a && same "pause" "$(q "SELECT status FROM waves WHERE name = 'wave-a'")" "PAUSED"
run 0 "$WAVEMILL" wave resume wave-a && same "resume" "$(q "SELECT status FROM waves WHERE name = 'wave-a'")" "RUNNING"
run 0 "$WAVEMILL" wave cutover wave-a --at 2031-05-06T07:08:09+02:00 &&
    same "cutover --at with offset" "$(q "SELECT to_char(cutover_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM waves WHERE name = 'wave-a'")" \
        "2031-05-06 05:08"
run 1 "$WAVEMILL" wave cutover wave-b </dev/null && has "cutover now without --yes and no terminal: refused" err "refusing without --yes"
same "refused cutover: window unchanged" "$(q "SELECT cutover_at IS NULL FROM waves WHERE name = 'wave-b'")" "t"
run 0 "$WAVEMILL" wave cutover wave-b --dry-run && has "cutover --dry-run: the plan" out "launch cutover instance -> network/DNS -> validate -> shut the source down"
same "dry run: window unchanged" "$(q "SELECT cutover_at IS NULL FROM waves WHERE name = 'wave-b'")" "t"
run 0 "$WAVEMILL" wave cutover wave-b --yes && same "cutover without --at opens now" \
    "$(q "SELECT cutover_at <= now() FROM waves WHERE name = 'wave-b'")" "t"
run 2 "$WAVEMILL" wave cutover wave-a --at 2031-13-01T00:00 && has "cutover: bad time" err "is not a time"
run 1 "$WAVEMILL" wave start w9 && same "start: unknown wave" "$(cat "$TMP/err")" "wavemill: wave start: no wave named 'w9'"
run 2 "$WAVEMILL" wave frobnicate x && has "unknown subcommand" err "unknown subcommand 'wave frobnicate'"

# --- servers
run 0 "$WAVEMILL" server show bill-db01 --json &&
    same "server show --json" \
        "$(json 'd["server"]["wave"], d["server"]["source_port"], d["server"]["tags"]["note"], [(k["source_path"], k["size_bytes"]) for k in d["server"]["disks"]]')" \
        "wave-a 2222 primary, do not reboot [('/dev/sda', 21474836480), ('/dev/sdc', 536870912000)]"
run 0 "$WAVEMILL" server show bill-db01 && has "server show: human" out "source migrate@10.0.1.21:2222"
run 1 "$WAVEMILL" server show nope && same "server show: unknown" "$(cat "$TMP/err")" "wavemill: server show: no server named 'nope'"
run 1 "$WAVEMILL" server retry bill-web02 && has "retry: only a FAILED server" err "wavemill: server retry:"

# a server that ran out of attempts on prereq_check (what the scheduler leaves behind)
q "UPDATE servers SET lifecycle = 'FAILED', current_step = 'prereq_check', error = 'prereq_check: boom'
   WHERE name = 'bill-db01';
   INSERT INTO tasks (server_id, wave_id, kind, state, attempt, max_attempts, error)
   SELECT id, wave_id, 'prereq_check', 'FAILED', 3, 3, 'boom' FROM servers WHERE name = 'bill-db01'" >/dev/null
run 0 "$WAVEMILL" server show bill-db01 --json &&
    same "server show: task attempts and last error" \
        "$(json '[(t["kind"], t["state"], t["attempt"], t["max_attempts"], t["error"]) for t in d["server"]["tasks"]]')" \
        "[('prereq_check', 'FAILED', 3, 3, 'boom')]"
run 0 "$WAVEMILL" wave show wave-a --json &&
    same "wave show: failed task listed" "$(json '[(t["server"], t["kind"]) for t in d["failed_tasks"]]')" \
        "[('bill-db01', 'prereq_check')]"
run 0 "$WAVEMILL" server retry bill-db01 && has "retry a FAILED server" out "server 'bill-db01'"
same "retry: no longer FAILED" "$(q "SELECT lifecycle <> 'FAILED' FROM servers WHERE name = 'bill-db01'")" "t"
run 0 "$WAVEMILL" server skip bill-web01 --task launch_test && has "skip" out "step launch_test skipped"
run 2 "$WAVEMILL" server skip bill-web01 --task nope && has "skip: unknown kind lists the steps" err "'nope' is not a pipeline step (prereq_check,"
run 2 "$WAVEMILL" server skip bill-web01 && has "skip: --task required" err "--task KIND"

# --- status
run 0 "$WAVEMILL" status && has "status: every wave" out "wave w-new" && has "status: lifecycle counts" out "servers 2: NOT_READY 2"
run 0 "$WAVEMILL" status --json &&
    same "status --json" "$(json 'len(d["waves"]), sum(w["servers"] for w in d["waves"]), "servers" in d')" "4 6 False"
run 0 "$WAVEMILL" status --wave wave-b --json &&
    same "status --wave: per server" "$(json '[(s["name"], s["lifecycle"], s["size_bytes"]) for s in d["servers"]]')" \
        "[('hr-db01', 'NOT_READY', 257698037760), ('hr-web01', 'NOT_READY', 0)]"
run 0 "$WAVEMILL" status --wave wave-b && has "status --wave: human table" out "hr-db01"
run 1 "$WAVEMILL" status --wave nope && has "status: unknown wave" err "no wave named 'nope'"

# --- audit: every operator action, with the person's name
same "audit: actions in order" \
    "$(q "SELECT string_agg(action || coalesce(':' || wave, '') || coalesce(':' || server, ''), ' ' ORDER BY id)
          FROM audit_log WHERE action <> 'db.migrate'")" \
    "import wave.create:w-new wave.create:w-rel wave.set:w-rel wave.start:wave-a wave.pause:wave-a wave.resume:wave-a wave.cutover:wave-a wave.cutover:wave-b server.retry:wave-a:bill-db01 server.skip:wave-a:bill-web01"
same "audit: actor is the person" "$(q "SELECT DISTINCT actor FROM audit_log WHERE action <> 'db.migrate'")" "operator-test"
same "audit: detail" "$(q "SELECT detail->>'task' FROM audit_log WHERE action = 'server.skip'")" "launch_test"
SUDO_USER=alice run 0 "$WAVEMILL" wave pause wave-a &&
    same "audit: SUDO_USER wins" "$(q "SELECT actor FROM audit_log ORDER BY id DESC LIMIT 1")" "alice"

echo "cli_wave: $fails failed"
[ "$fails" -eq 0 ]
