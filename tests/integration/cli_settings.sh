#!/usr/bin/env bash
# Per-server settings without SQL and Cloud Migration Factory intake files:
# a CMF server intake form (multi-valued groups, tags, tier/environment)
# imports with `--format cmf` and every mapped value shows in `server show`;
# `--ignore-unknown` names the columns it drops; `server set`/`unset`
# round trip (settings and intake columns), refuse what the intake refuses,
# and server show says where each value comes from (server, wave, default);
# intake columns carry settings; a file with several bad rows lists them all.
set -u
cd "$(dirname "$0")/../.."
. tests/support/cli_lib.sh
cli_db_init wm_test_cli_settings_$$ wm_cli_settings
PY=${WM_PY:-python3}
[ -x "$PY" ] || PY=python3
json() { "$PY" -c "import json,sys; d=json.load(open('$TMP/out')); print($1)" 2>&1; }
cli_db_create migrate
CMF=tests/data/cmf_intake.csv

# --- CMF intake, as it is
run 0 "$WAVEMILL" import --format cmf --mapping && has "mapping: fqdn is the source host" out "server_fqdn             server_fqdn and source_host"
run 1 "$WAVEMILL" import "$CMF" && has "native format refuses a CMF file" err "unknown column 'aws_accountid'"
run 0 "$WAVEMILL" import --format cmf --provider sim "$CMF" && has "cmf import" out "imported $CMF: 3 rows"
run 0 "$WAVEMILL" server show billweb01 --json &&
    same "cmf: identity and source host from the FQDN" \
        "$(json 'd["server"]["wave"], d["server"]["application"], d["server"]["os_family"], d["server"]["os_version"], d["server"]["fqdn"], d["server"]["source_host"], d["server"]["target_provider"]')" \
        "Wave1 Billing linux Ubuntu 22.04 billweb01.corp.example.com billweb01.corp.example.com sim"
same "cmf: subnet, groups, test groups, instance type" \
    "$(json 'd["server"]["subnet_id"], d["server"]["security_group_ids"], d["server"]["test_security_group_ids"], d["server"]["instance_type"]')" \
    "subnet-0a1b2c3d ['sg-0aaa1111', 'sg-0bbb2222'] ['sg-0ttt1111', 'sg-0ttt2222'] t3.large"
same "cmf: tags, tier, environment, r_type" \
    "$(json 'sorted(d["server"]["tags"].items())')" \
    "[('CostCenter', '1234'), ('Owner', 'billing-team'), ('environment', 'Production'), ('r_type', 'Rehost'), ('tier', 'Web')]"
same "cmf: region, account, test subnet, tenancy as settings" \
    "$(json '[(k, d["server"]["settings"][k]["value"], d["server"]["settings"][k]["from"]) for k in ("aws_region", "aws_account_id", "test_subnet_id", "tenancy")]')" \
    "[('aws_region', 'us-east-1', 'server'), ('aws_account_id', '111122223333', 'server'), ('test_subnet_id', 'subnet-0t1t2t3t', 'server'), ('tenancy', 'Shared', 'server')]"
run 0 "$WAVEMILL" server show crmapp01 --json &&
    same "cmf: empty optional cells stay empty" "$(json 'd["server"]["test_security_group_ids"], d["server"]["settings"]["tenancy"]["from"], d["server"]["os_family"]')" \
        "[] default windows"
run 0 "$WAVEMILL" server show billdb01 && has "show: human settings" out "tenancy          Dedicated  [server]"
# an extra column: refused by name, or dropped and named with --ignore-unknown
sed '1s/$/,notes/; 2,$s/$/,hello/' "$CMF" >"$TMP/extra.csv"
run 1 "$WAVEMILL" import --format cmf --provider sim "$TMP/extra.csv" && has "cmf: unknown column named" err "unknown column 'notes'"
run 0 "$WAVEMILL" import --format cmf --provider sim --ignore-unknown "$TMP/extra.csv" &&
    has "--ignore-unknown names what it drops" err "import: ignored column (--ignore-unknown): notes"

# --- several bad CMF rows: all reported, each with line and column
{ head -1 "$CMF"
  echo "Wave1,Billing,us-east-1,1,bad01,beos,,bad01.example,,,,subnet-1;subnet-2,sg-1,,,t3.large,Shared,"
  echo "Wave1,Billing,us-east-1,1,bad02,linux,,,,,,subnet-1,sg 1,,,t3.large,Weird,k"
} >"$TMP/bad.csv"
run 1 "$WAVEMILL" import --format cmf --provider sim "$TMP/bad.csv"
for e in "bad.csv:2: column server_os_family: 'beos' is not one of linux, windows" \
         "bad.csv:2: column subnet_IDs: 2 values" \
         "bad.csv:3: column server_fqdn: required value is empty" \
         "bad.csv:3: column securitygroup_IDs: 'sg 1' is not an id" \
         "bad.csv:3: column tenancy: setting tenancy: 'Weird' is not one of" \
         "bad.csv:3: column tags: 'k' is not key=value"; do
    has "all errors: ${e%%:*}…${e#*column }" err "$e"
done
same "bad file: nothing imported" "$(q "SELECT count(*) FROM servers WHERE name LIKE 'bad%'")" "0"

# --- server set / unset round trips
run 0 "$WAVEMILL" server set billweb01 transport=local stop_command="systemctl stop billing.target" \
    probes='[{"name":"web","type":"tcp","port":443}]' agent_dir=/opt/wm source_port=2222 \
    security_group_ids="sg-new1;sg-new2" source_user=migrate && has "set" out "server 'billweb01': 7 keys set"
same "set: stored in servers.settings" \
    "$(q "SELECT settings->>'transport', settings->>'stop_command', (settings->>'probes')::jsonb->0->>'port', settings->>'agent_dir' FROM servers WHERE name = 'billweb01'")" \
    "local|systemctl stop billing.target|443|/opt/wm"
same "set: intake columns" "$(q "SELECT source_port, security_group_ids, source_user FROM servers WHERE name = 'billweb01'")" \
    "2222|{sg-new1,sg-new2}|migrate"
run 0 "$WAVEMILL" server show billweb01 --json &&
    same "show: effective value and origin" \
        "$(json '[(k, d["server"]["settings"][k]["value"], d["server"]["settings"][k]["from"]) for k in ("transport", "stop_command", "shutdown_command")]')" \
        "[('transport', 'local', 'server'), ('stop_command', 'systemctl stop billing.target', 'server'), ('shutdown_command', None, 'default')]"
same "show: the default named" "$(json 'd["server"]["settings"]["shutdown_command"]["default"]')" "systemctl poweroff"
run 0 "$WAVEMILL" server set --wave Wave1 shutdown_command="shutdown -h now" transport=ssh && has "set --wave" out "wave 'Wave1': 2 keys set"
run 0 "$WAVEMILL" server show billdb01 --json &&
    same "wave settings reach its servers" "$(json '[(k, d["server"]["settings"][k]["value"], d["server"]["settings"][k]["from"]) for k in ("shutdown_command", "transport")]')" \
        "[('shutdown_command', 'shutdown -h now', 'wave'), ('transport', 'ssh', 'wave')]"
run 0 "$WAVEMILL" server show billweb01 --json &&
    same "the server's own value wins over the wave's" "$(json 'd["server"]["settings"]["transport"]["value"], d["server"]["settings"]["transport"]["from"]')" "local server"
run 0 "$WAVEMILL" server unset billweb01 transport source_port && has "unset" out "server 'billweb01': 2 keys unset"
run 0 "$WAVEMILL" --json server set crmapp01 agent_host=10.9.9.9 &&
    same "set --json" "$(json 'd["ok"], d["server"], d["set"]')" "True crmapp01 {'agent_host': '10.9.9.9'}"
run 0 "$WAVEMILL" server show billweb01 --json &&
    same "unset: back to the wave's value and the port default" \
        "$(json 'd["server"]["settings"]["transport"]["value"], d["server"]["settings"]["transport"]["from"], d["server"]["source_port"]')" "ssh wave 22"
same "audit rows" "$(q "SELECT string_agg(action || ':' || coalesce(server, wave), ',' ORDER BY id) FROM audit_log WHERE action LIKE 'server.%set'")" \
    "server.set:billweb01,server.set:Wave1,server.unset:billweb01,server.set:crmapp01"

# --- refusals: nothing written
before=$(q "SELECT settings::text || source_port || target_provider FROM servers WHERE name = 'billweb01'")
run 2 "$WAVEMILL" server set billweb01 transport=telnet && has "bad enum" err "setting transport: 'telnet' is not one of ssh,local,sim"
run 2 "$WAVEMILL" server set billweb01 agent_port=0 && has "bad port" err "setting agent_port: '0' is not a port"
run 2 "$WAVEMILL" server set billweb01 probes='{oops' && has "bad json" err "setting probes: '{oops' is not a JSON array or object"
run 2 "$WAVEMILL" server set billweb01 source_port=70000 && has "column validated like the intake" err "source_port: '70000' is not a port (1-65535)"
run 2 "$WAVEMILL" server set billweb01 target_provider=gcp && has "provider like the intake" err "target_provider: 'gcp' is not one of sim, aws, exec"
run 2 "$WAVEMILL" server set billweb01 colour=blue && has "unknown key lists the keys" err "unknown key 'colour' (keys: transport, replication"
run 2 "$WAVEMILL" server set billweb01 transport=local agent_port=x && has "one bad key refuses all" err "agent_port"
run 2 "$WAVEMILL" server unset billweb01 source_host && has "required column cannot be unset" err "source_host cannot be unset"
run 2 "$WAVEMILL" server set --wave Wave1 source_port=1 && has "waves carry settings only" err "unknown key 'source_port'"
run 2 "$WAVEMILL" server set billweb01 && has "nothing to set" err "nothing to set"
run 1 "$WAVEMILL" server set nope transport=ssh && has "unknown server" err "no server named 'nope'"
same "refusals wrote nothing" "$(q "SELECT settings::text || source_port || target_provider FROM servers WHERE name = 'billweb01'")" "$before"

# --- native intake: settings as columns, merged into what server set stored
cat >"$TMP/settings.csv" <<'CSV'
wave_name,app_name,server_name,server_os_family,source_host,target_provider,stop_command,agent_port,probes
Wave1,Billing,billweb01,linux,billweb01.corp.example.com,sim,systemctl stop web,7481,"[{""name"":""ssh"",""type"":""tcp"",""port"":22}]"
CSV
run 0 "$WAVEMILL" import "$TMP/settings.csv" && same "intake setting columns" \
    "$(q "SELECT settings->>'stop_command', settings->>'agent_port', (settings->>'probes')::jsonb->0->>'name', settings->>'agent_dir' FROM servers WHERE name = 'billweb01'")" \
    "systemctl stop web|7481|ssh|/opt/wm"

echo "cli_settings: $fails failed"
[ $fails = 0 ]
