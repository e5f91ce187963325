#!/usr/bin/env bash
# `make install DESTDIR=... PREFIX=...` lays out a tree that holds
# everything its systemd units reference (programs, the configuration, the
# documentation), the units pass `systemd-analyze verify` inside that tree
# and `systemd-analyze security` rates each OK (exposure <= 3.0), and the
# installed programs accept the installed configuration and find the
# installed migrations.
set -u
cd "$(dirname "$0")/../.."
TMP=$(mktemp -d /tmp/wm_install.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
ok() { echo "ok   - $1"; }
no() { echo "FAIL - $1"; fails=$((fails + 1)); }
command -v systemd-analyze >/dev/null || { echo "FAIL - systemd-analyze missing (deploy/local/install-deps)"; exit 1; }

# every absolute path a unit names (ExecStart program, --config file,
# Documentation) must exist in ROOT
check_unit_paths() { # ROOT UNIT
    local root=$1 unit=$2 p
    for p in $(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p; s/.*--config \([^ ]*\).*/\1/p' "$unit") \
             $(sed -n 's/^Documentation=//p' "$unit" | tr ' ' '\n' | sed -n 's|^file://||p'); do
        [ -e "$root$p" ] || { no "$(basename "$unit"): $p not in the installed tree"; return 1; }
    done
    ok "$(basename "$unit"): every path it names is installed"
}

# the standard units (sysinit.target, ...) the verifier resolves
# dependencies against, copied next to the installed ones
verify_root() { # ROOT
    mkdir -p "$1/usr/lib/systemd" && cp -a /usr/lib/systemd/system "$1/usr/lib/systemd/"
}

# --- PREFIX=/usr, as the Debian package
R=$TMP/usr-root
make -s install DESTDIR="$R" PREFIX=/usr >"$TMP/make.log" 2>&1 || { no "make install: $(tail -5 "$TMP/make.log")"; exit 1; }
for p in wavemill wavemill-scheduler wavemill-worker wavemill-receiver wavemill-agent; do
    [ -x "$R/usr/bin/$p" ] && ok "installed /usr/bin/$p" || no "/usr/bin/$p missing"
    [ -s "$R/usr/share/doc/wavemill/help/$p.txt" ] && ok "help text of $p" || no "no help text of $p"
done
for f in /etc/wavemill/wavemill.conf /etc/wavemill/wavemill.conf.sample /usr/share/doc/wavemill/configuration.md \
         /usr/lib/sysusers.d/wavemill.conf /usr/share/wavemill/schemas/task.avsc; do
    [ -f "$R$f" ] && ok "installed $f" || no "$f missing"
done
n_sql=$(ls schemas/sql/*.sql | wc -l)
[ "$(ls "$R"/usr/share/wavemill/sql/*.sql | wc -l)" = "$n_sql" ] && ok "all $n_sql migrations installed" || no "migrations missing"
[ "$(stat -c %a "$R/etc/wavemill/wavemill.conf")" = 640 ] && ok "wavemill.conf is 0640" || no "wavemill.conf mode"
units=("$R"/lib/systemd/system/wavemill-*.service)
[ ${#units[@]} -ge 4 ] && ok "${#units[@]} units installed" || no "units: ${units[*]}"
[ -f "$R/lib/systemd/system/wavemill-worker@.service" ] && ok "the worker is a template unit" || no "no wavemill-worker@.service"
if [ -x bin/wavemill-api ]; then
    [ -f "$R/lib/systemd/system/wavemill-api.service" ] && ok "api unit installed" || no "api unit missing"
else
    [ ! -e "$R/lib/systemd/system/wavemill-api.service" ] && ok "no api unit without wavemill-api (not built here)" ||
        no "api unit installed without its program"
fi

verify_root "$R"
for u in "${units[@]}"; do
    check_unit_paths "$R" "$u"
    grep -q '^User=wavemill$' "$u" && grep -q '^NoNewPrivileges=yes$' "$u" && grep -q '^ProtectSystem=strict$' "$u" &&
        ok "$(basename "$u"): dedicated user, NoNewPrivileges, ProtectSystem=strict" || no "$(basename "$u"): hardening lines"
    out=$(systemd-analyze verify --root="$R" "$u" 2>&1)
    [ $? = 0 ] && [ -z "$out" ] && ok "$(basename "$u"): systemd-analyze verify" || no "$(basename "$u"): verify: $out"
    score=$(systemd-analyze security --root="$R" --offline=yes "$u" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    awk -v s="${score:-99}" 'BEGIN { exit !(s <= 3.0) }' && ok "$(basename "$u"): exposure $score" ||
        no "$(basename "$u"): exposure ${score:-unknown} > 3.0"
done
# the verifier is not a rubber stamp: a unit naming a missing program fails
sed 's|^ExecStart=/usr/bin/wavemill-scheduler|ExecStart=/usr/bin/wavemill-nope|' \
    "$R/lib/systemd/system/wavemill-scheduler.service" >"$R/lib/systemd/system/wm-bad.service"
systemd-analyze verify --root="$R" "$R/lib/systemd/system/wm-bad.service" >/dev/null 2>&1 &&
    no "verify passed a unit with a missing program" || ok "verify refuses a unit naming a missing program"
rm -f "$R/lib/systemd/system/wm-bad.service"

out=$(env -u WAVEMILL_CONFIG "$R/usr/bin/wavemill" config check "$R/etc/wavemill/wavemill.conf" 2>&1) &&
    ok "installed programs accept the installed configuration" || no "config check: $out"
echo "$out" | grep -q "wavemill-worker  *ok" && ok "the check ran the installed worker" || no "check: $out"
# the installed CLI migrates a database from the installed migrations
# (no WAVEMILL_SQL_DIR, no source tree): a database of this test's own
[ -f deploy/local/env ] && . deploy/local/env
DB=wm_test_install_$$
if createdb -h 127.0.0.1 -p "${WM_PG_PORT:-15432}" -U wavemill "$DB" 2>"$TMP/err"; then
    out=$(cd / && env -u WAVEMILL_SQL_DIR WAVEMILL_PG_CONNINFO="host=127.0.0.1 port=${WM_PG_PORT:-15432} dbname=$DB user=wavemill" \
          "$R/usr/bin/wavemill" db migrate 2>&1)
    # bin/../share/wavemill/sql is the only folder it can find them in
    [ $? = 0 ] && echo "$out" | grep -q "applied $n_sql migrations" && ok "installed CLI applies the $n_sql installed migrations" ||
        no "installed db migrate: $out"
    dropdb -h 127.0.0.1 -p "${WM_PG_PORT:-15432}" -U wavemill --if-exists --force "$DB"
else
    no "createdb $DB: $(cat "$TMP/err")"
fi

# README "Run it for real": every path it names exists, in the repository
# or in the installed tree (master.key is made by the section's own command,
# build/deb by make deb)
awk '/^## Run it for real/ {on = 1; next} /^## / {on = 0} on' README.md >"$TMP/section"
[ -s "$TMP/section" ] || no "README has no 'Run it for real' section"
for p in $(grep -oE '(^|[^A-Za-z0-9_./-])(deploy|docs|tests|schemas)/[A-Za-z0-9_./@-]*[A-Za-z0-9_/-]' "$TMP/section" |
           sed -E 's/^[^dts]//' | sort -u); do
    [ -e "$p" ] && ok "README names $p: exists" || no "README names $p: missing"
done
for p in $(grep -oE '/(etc|usr|lib)/[A-Za-z0-9_./@*-]*[A-Za-z0-9_/*-]' "$TMP/section" | sed 's/\*$//' | sort -u); do
    case $p in */master.key) continue ;; esac
    compgen -G "$R$p*" >/dev/null && ok "README names $p: installed" || no "README names $p: not in the installed tree"
done

# --- PREFIX=/opt/wavemill: the units follow the prefix
O=$TMP/opt-root
make -s install DESTDIR="$O" PREFIX=/opt/wavemill >"$TMP/make2.log" 2>&1 || no "make install PREFIX=/opt/wavemill"
grep -q '^ExecStart=/opt/wavemill/bin/wavemill-scheduler --config /opt/wavemill/etc/wavemill/wavemill.conf' \
    "$O/opt/wavemill/lib/systemd/system/wavemill-scheduler.service" && ok "PREFIX=/opt/wavemill: unit paths follow" ||
    no "PREFIX: $(grep ExecStart "$O"/opt/wavemill/lib/systemd/system/wavemill-scheduler.service)"
verify_root "$O"
for u in "$O"/opt/wavemill/lib/systemd/system/*.service; do
    check_unit_paths "$O" "$u"
done
# an operator's configuration is never overwritten by a later install
echo "# mine" >>"$O/opt/wavemill/etc/wavemill/wavemill.conf"
make -s install DESTDIR="$O" PREFIX=/opt/wavemill >/dev/null 2>&1
tail -1 "$O/opt/wavemill/etc/wavemill/wavemill.conf" | grep -qx "# mine" && ok "reinstall keeps the operator's wavemill.conf" ||
    no "reinstall overwrote wavemill.conf"

[ $fails = 0 ] && echo "deploy_install: all passed" || echo "deploy_install: $fails failed"
[ $fails = 0 ]
