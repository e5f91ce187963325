#!/usr/bin/env bash
# deploy/local/up on a running stack is harmless: it returns quickly, starts
# nothing new (same broker and postmaster pids), and the stack still answers.
# (A stack started by another clone shows as "foreign": up must leave it be.)
set -euo pipefail
cd "$(dirname "$0")/../.."

states() { deploy/local/status | awk '$1 ~ /^(kafka|pg)$/ && $2 ~ /^(up|down|starting|foreign)$/ { print $1, $2, $3 }'; }
before=$(states)
for svc in kafka pg; do
    grep -Eq "^$svc (up|foreign) " <<<"$before" || { echo "FAIL: stack not running: $before"; exit 1; }
done

start=$(date +%s%N)
out=$(timeout 60 deploy/local/up 2>&1) || { echo "FAIL: second up failed:"; echo "$out"; exit 1; }
ms=$(( ($(date +%s%N) - start) / 1000000 ))
for svc in kafka pg; do
    if grep -q "^$svc up " <<<"$before"; then want="$svc: already running"
    else want="$svc: .* did not start; using it"; fi
    grep -q "$want" <<<"$out" || { echo "FAIL: up did not see the running $svc:"; echo "$out"; exit 1; }
done
if grep -Eq 'starting broker|starting PostgreSQL|initdb|formatting' <<<"$out"; then
    echo "FAIL: second up started or initialised something:"; echo "$out"; exit 1
fi

after=$(states)
[ "$before" = "$after" ] || { echo "FAIL: pids changed: [$before] -> [$after]"; exit 1; }
# generous bound (a loaded machine): a warm up takes well under a second,
# a cold start of Kafka and PostgreSQL far longer
[ "$ms" -lt 45000 ] || { echo "FAIL: warm up took $ms ms"; exit 1; }
echo "ok: second up kept [$(tr '\n' ' ' <<<"$after")] in $ms ms"
deploy/local/status >/dev/null || { echo "FAIL: status says the stack is not healthy"; exit 1; }
echo "ok: status healthy"
