#!/usr/bin/env bash
# `wavemill import` against the real PostgreSQL of the local stack, in a
# database of its own: a good file imports every row; a file with one bad
# row imports nothing and names file:line:column; re-import updates and
# never duplicates; unknown columns; a server with tasks cannot move wave,
# and that refusal rolls back the rows before it; audit_log rows.
set -u
cd "$(dirname "$0")/../.."
. tests/support/cli_lib.sh
cli_db_init wm_test_cli_import_$$ wm_cli_import
GOOD=tests/data/inventory_good.csv
BAD=tests/data/inventory_bad.csv

counts() { q "SELECT (SELECT count(*) FROM waves) || ' ' || (SELECT count(*) FROM applications)
              || ' ' || (SELECT count(*) FROM servers) || ' ' || (SELECT count(*) FROM disks)"; }

cli_db_create migrate

# --- a bad row: nothing imported, the message names file, line and column
if run 1 "$WAVEMILL" import "$BAD"; then
    same "bad row: one-line error naming file:line:column" "$(cat "$TMP/err")" \
        "wavemill: import: $BAD:7: column source_port: '70000' is not a port (1-65535)"
fi
same "bad row: nothing imported" "$(counts)" "0 0 0 0"

# --- good file
if run 0 "$WAVEMILL" import "$GOOD"; then
    has "good file: summary counts created servers" out "servers: 6 created, 0 updated, 0 unchanged"
fi
same "good file: waves apps servers disks" "$(counts)" "2 3 6 10"
same "quoted cell with a comma kept whole" \
    "$(q "SELECT tags->>'note' FROM servers WHERE name = 'bill-db01'")" "primary, do not reboot"
same "doubled quotes unescaped" \
    "$(q "SELECT tags->>'description' FROM servers WHERE name = 'hr-web01'")" '"HR portal"'
same "multi-value cells and defaults" \
    "$(q "SELECT array_to_string(security_group_ids, '|') || ' ' || source_port || ' ' || os_family
          FROM servers WHERE name = 'crm-app01'")" "sg-crm 22 windows"
same "disk sizes parsed, size-less disk 0" \
    "$(q "SELECT string_agg(source_path || '=' || size_bytes, ' ' ORDER BY source_path)
          FROM disks d JOIN servers s ON s.id = d.server_id WHERE s.name IN ('bill-db01', 'hr-web01')")" \
    "/dev/sda=21474836480 /dev/sdc=536870912000 /dev/vda=0"

# --- re-import: same counts, nothing duplicated, nothing rewritten
before=$(q "SELECT max(updated_at) FROM servers")
if run 0 "$WAVEMILL" import "$GOOD"; then
    has "re-import: reports every server unchanged" out "servers: 0 created, 0 updated, 6 unchanged"
fi
same "re-import: no duplicates" "$(counts)" "2 3 6 10"
same "re-import: unchanged rows not rewritten" "$(q "SELECT max(updated_at) FROM servers")" "$before"

# --- changed fields are updated (instance type, tags, a disk dropped, a size changed)
sed -e 's/^wave-a,billing,bill-web01,\(.*\),t3.large,/wave-a,billing,bill-web01,\1,m5.xlarge,/' \
    -e 's#/dev/sda:20G;/dev/sdb:100G#/dev/sda:30G#' \
    -e 's/env=prod;owner=billing-team$/env=prod;owner=platform/' "$GOOD" >"$TMP/changed.csv"
if run 0 "$WAVEMILL" --json import "$TMP/changed.csv"; then
    same "update: --json summary" \
        "$(python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["servers"]; k=d["disks"];
print(d["ok"], s["created"], s["updated"], s["unchanged"], k["updated"], k["removed"])' <"$TMP/out")" \
        "True 0 2 4 1 1"
fi
same "update: counts (one disk removed)" "$(counts)" "2 3 6 9"
same "update: fields changed" \
    "$(q "SELECT instance_type || ' ' || (tags->>'owner') || ' ' ||
          (SELECT string_agg(source_path || '=' || size_bytes, ' ') FROM disks WHERE server_id = s.id)
          FROM servers s WHERE name = 'bill-web01'")" "m5.xlarge platform /dev/sda=32212254720"

# --- CRLF file (the bad one, fixed)
sed 's/,70000,/,22,/' "$BAD" >"$TMP/crlf.csv"
if run 0 "$WAVEMILL" import "$TMP/crlf.csv"; then
    has "CRLF file imports" out "servers: 6 created"
fi
same "CRLF: last cell carries no CR" \
    "$(q "SELECT count(*) FROM servers WHERE name LIKE 'erp-%' AND tags = '{}'
          AND strpos(source_user || credential, chr(13)) = 0")" "6"

# --- unknown columns
sed '1s/$/,colour/; 2,$s/$/,blue/' "$GOOD" >"$TMP/unknown.csv"
if run 1 "$WAVEMILL" import "$TMP/unknown.csv"; then
    has "unknown column refused" err "$TMP/unknown.csv:1: unknown column 'colour'"
fi
run 0 "$WAVEMILL" import --ignore-unknown "$TMP/unknown.csv" && ok "--ignore-unknown imports"

# --- several bad rows: every error listed, each with its line and column
{ head -1 "$GOOD"; echo "wave-z,z,z1,,beos,,h,22,,,/d,sim,,,,,"; echo "wave-z,z,z2,,linux,,h,22,,,/d,gcp,,,,,"; } >"$TMP/two.csv"
if run 1 "$WAVEMILL" import "$TMP/two.csv"; then
    has "first error listed" err "$TMP/two.csv:2: column server_os_family: 'beos' is not one of linux, windows"
    has "second error listed" err "$TMP/two.csv:3: column target_provider: 'gcp' is not one of sim, aws, exec"
    has "one verdict" err "wavemill: import: $TMP/two.csv refused, nothing imported (errors above)"
fi

# --- a server with tasks cannot change wave; the whole file rolls back
q "INSERT INTO tasks (server_id, wave_id, kind, state)
   SELECT id, wave_id, 'prereq_check', 'SUCCEEDED' FROM servers WHERE name = 'hr-db01'" >/dev/null
n_before=$(counts)
{ head -1 "$GOOD"; echo "wave-new,newapp,new01,,linux,,h,22,,,/d,sim,,,,,"
  grep '^wave-b,hr,hr-db01,' "$GOOD" | sed 's/^wave-b,/wave-a,/'; } >"$TMP/move.csv"
if run 1 "$WAVEMILL" import "$TMP/move.csv"; then
    has "move with tasks refused, line named" err \
        "$TMP/move.csv:3: column wave_name: server 'hr-db01' is in wave 'wave-b' and has tasks"
fi
same "refused move: earlier rows rolled back" "$(counts)" "$n_before"
{ head -1 "$GOOD"; grep '^wave-b,hr,hr-web01,' "$GOOD" | sed 's/^wave-b,/wave-a,/'; } >"$TMP/move2.csv"
run 0 "$WAVEMILL" import "$TMP/move2.csv" && same "move without tasks allowed" \
    "$(q "SELECT w.name FROM servers s JOIN waves w ON w.id = s.wave_id WHERE s.name = 'hr-web01'")" "wave-a"

# --- a file larger than one chunk (500 rows per statement): 1,200 servers
{ head -1 "$GOOD"
  for i in $(seq 1 1200); do echo "wave-big,big$((i % 7)),big$i,,linux,,10.9.$((i / 250)).$((i % 250)),22,,,/dev/sda:1G;/dev/sdb,sim,,,sg-1,,n=$i"; done
} >"$TMP/big.csv"
n_before=$(q "SELECT count(*) FROM servers")
run 0 "$WAVEMILL" import "$TMP/big.csv" && has "big file: every row" out "servers: 1200 created, 0 updated, 0 unchanged; disks: 2400 created"
same "big file: rows stored" "$(q "SELECT count(*), sum((tags->>'n')::int) FROM servers WHERE name LIKE 'big%'")" "1200|720600"
sed -i '1002s/,n=1001$/,n=-1001/' "$TMP/big.csv"
run 0 "$WAVEMILL" import "$TMP/big.csv" && has "big file re-import: one change in the third chunk" out "servers: 0 created, 1 updated, 1199 unchanged"
# a refusal in the last chunk rolls back the chunks already written
{ cat "$TMP/big.csv" | sed 's/^wave-big,big\([0-9]\),big\([0-9]*\),\(.*\),n=\(-\?[0-9]*\)$/wave-big,big\1,big\2,\3,n=x\4/'
  grep '^wave-b,hr,hr-db01,' "$GOOD" | sed 's/^wave-b,/wave-big,/'; } >"$TMP/bigmove.csv"
run 1 "$WAVEMILL" import "$TMP/bigmove.csv" && has "big file: refusal names the line" err "$TMP/bigmove.csv:1202: column wave_name"
same "big file: earlier chunks rolled back" "$(q "SELECT count(*) FROM servers WHERE tags->>'n' LIKE 'x%'")" "0"

# --- dry run writes nothing
{ head -1 "$GOOD"; echo "wave-dry,dry,dry01,,linux,,h,22,,,/d,sim,,,,,"; } >"$TMP/dry.csv"
run 0 "$WAVEMILL" import --dry-run "$TMP/dry.csv" && has "dry run reports" out "servers: 1 created"
same "dry run writes nothing" "$(q "SELECT count(*) FROM servers WHERE name = 'dry01'")" "0"

# --- the printed template is a valid intake form
run 0 "$WAVEMILL" import --template && cp "$TMP/out" "$TMP/template.csv" &&
    run 0 "$WAVEMILL" import --dry-run "$TMP/template.csv" && has "template is importable" out "template.csv: 2 rows"

# --- bounds and missing files
head -c 40000000 /dev/zero | tr '\0' 'x' >"$TMP/huge.csv"
run 1 "$WAVEMILL" import "$TMP/huge.csv" && has "file size bound" err "file larger than"
run 1 "$WAVEMILL" import "$TMP/nope.csv" && has "missing file" err "nope.csv: No such file or directory"
run 2 "$WAVEMILL" import && has "no file given is a usage error" err "which file?"

# --- audit: one row per successful import, with the actor and counts
same "audit rows for imports" "$(q "SELECT count(*) FROM audit_log WHERE action = 'import'")" "8"
same "audit detail" "$(q "SELECT actor = '${USER:-$(id -un)}', detail->'servers'->>'created'
                          FROM audit_log WHERE action = 'import' ORDER BY id LIMIT 1")" "t|6"

echo "cli_import: $fails failed"
[ "$fails" -eq 0 ]
