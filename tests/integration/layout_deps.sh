#!/usr/bin/env bash
# The layout's dependency rules hold, and the check that says so refuses a
# dependency that goes the wrong way:
#   - tests/layout/check_deps passes on this repository;
#   - on a copy with replicator -> worker, scheduler -> worker,
#     common -> scheduler includes, or a scheduler that links libworker, it
#     fails and names each edge; cli -> scheduler/worker stays allowed;
#   - the per-module include path makes the same forbidden include fail the
#     build (the compiler does not find the worker's header from replicator/).
set -u
cd "$(dirname "$0")/../.."
repo=$PWD
check=$repo/tests/layout/check_deps
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wm-layout.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$("$check" "$repo") || fail "check_deps refuses this repository: $out"
echo "ok: repository passes: $out"

# a copy of the sources (tracked and new files, no build output)
copy=$tmp/repo
mkdir -p "$copy"
git ls-files -co --exclude-standard | grep -v '^\(build\|bin\|run\)/' |
    tar -cf - -T - | tar -xf - -C "$copy"
"$check" "$copy" >/dev/null || fail "the copy does not pass before any change"

inject() { # file line
    printf '%s\n' "$2" >>"$copy/$1"
}
inject replicator/sync.c '#include "worker.h"'
inject scheduler/sched_tick.c '#include "transport/transport.h"'
inject common/log.c '#include "sched_sql.h"'
inject cli/cli_main.c '#include "worker.h"' # allowed: cli may use the worker
sed -i 's/\$(SCHED_LIB) \$(COMMON_LIB)))/$(SCHED_LIB) $(WORKER_LIB) $(COMMON_LIB)))/' \
    "$copy/scheduler/module.mk"
out=$("$check" "$copy")
rc=$?
echo "$out"
[ "$rc" -ne 0 ] || fail "check_deps accepted forbidden dependencies"
echo "$out" | grep -q '^replicator -> worker: replicator/sync.c includes worker.h' ||
    fail "replicator -> worker not refused"
echo "$out" | grep -q '^scheduler -> worker: scheduler/sched_tick.c includes transport/transport.h' ||
    fail "scheduler -> worker not refused"
echo "$out" | grep -q '^common -> scheduler: common/log.c includes sched_sql.h' ||
    fail "common -> scheduler not refused"
echo "$out" | grep -q '^scheduler -> worker: scheduler/module.mk links \$(WORKER_LIB)' ||
    fail "scheduler linking libworker not refused"
echo "$out" | grep -q '^cli ->' && fail "cli -> worker refused although allowed"
echo "ok: check_deps refuses the four wrong-way edges and allows cli -> worker"

# the build refuses the same include: replicator/ does not see worker/
if out=$(make -s -C "$copy" BUILD="$tmp/build" BIN="$tmp/bin" \
    "$tmp/build/replicator/sync.o" 2>&1); then
    fail "replicator/sync.c compiled with #include \"worker.h\""
fi
echo "$out" | grep -q 'worker.h: No such file' || fail "unexpected build error: $out"
echo "ok: the build refuses replicator -> worker: $(echo "$out" | grep -m1 'worker.h')"
echo "layout_deps: ok"
