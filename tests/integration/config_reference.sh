#!/usr/bin/env bash
# docs/configuration.md is what deploy/config-reference prints from the
# programs' own key tables: every key every program declares is in it
# (named when missing), and nothing in it is stale.
set -u
cd "$(dirname "$0")/../.."
BIN=${WM_BIN:-$PWD/bin}
TMP=$(mktemp -d /tmp/wm_cfgref.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
ok() { echo "ok   - $1"; }
no() { echo "FAIL - $1"; fails=$((fails + 1)); }

for p in wavemill wavemill-scheduler wavemill-worker wavemill-receiver wavemill-agent; do
    [ -x "$BIN/$p" ] || { no "$p not built"; continue; }
    if [ "$p" = wavemill ]; then "$BIN/$p" config reference; else "$BIN/$p" --reference; fi >"$TMP/$p.tsv" ||
        no "$p: reference failed"
    n=$(wc -l <"$TMP/$p.tsv")
    [ "$n" -gt 0 ] && ok "$p declares $n keys" || no "$p declares no key"
    missing=0
    while IFS=$'\t' read -r key _; do
        grep -qF "| \`$key\` |" docs/configuration.md || { no "$p: key $key missing from docs/configuration.md"; missing=1; }
    done <"$TMP/$p.tsv"
    [ $missing = 0 ] && ok "$p: every key documented"
done
# every per-server setting is documented too
"$BIN/wavemill" config settings >"$TMP/settings.tsv" || no "config settings failed"
missing=0
while IFS=$'\t' read -r key _; do
    grep -qF "| \`$key\` |" docs/configuration.md || { no "setting $key missing from docs/configuration.md"; missing=1; }
done <"$TMP/settings.tsv"
[ $missing = 0 ] && ok "every per-server setting ($(wc -l <"$TMP/settings.tsv")) documented with its default"
deploy/config-reference "$BIN" >"$TMP/configuration.md" || no "generator failed"
if diff -u docs/configuration.md "$TMP/configuration.md" >"$TMP/diff"; then
    ok "docs/configuration.md is up to date"
else
    no "docs/configuration.md is stale (run deploy/config-reference > docs/configuration.md):"
    head -40 "$TMP/diff"
fi
# the per-section sample in the docs is itself a file every program accepts
awk '/^```ini$/ {on = 1; next} /^```$/ {on = 0} on' docs/configuration.md | grep -v '(a secret)' >"$TMP/all.conf"
out=$("$BIN/wavemill" config check "$TMP/all.conf" 2>&1) && ok "the documented examples pass config check" ||
    no "config check of the documented examples: $out"
[ $fails = 0 ] && echo "config_reference: all passed" || echo "config_reference: $fails failed"
[ $fails = 0 ]
