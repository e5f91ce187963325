#!/usr/bin/env bash
# The container image builds with podman from Debian (no registry: the base
# is made by deploy/container/base-image with debootstrap from the Debian
# mirror), in chroot isolation (crun cannot create containers here: "cgroups
# in hybrid mode not supported"; with --cgroups=disabled: "setrlimit
# RLIMIT_NOFILE: Operation not permitted").  Inside the image (buildah run,
# chroot isolation): every daemon answers --version as the unprivileged
# user 999 the manifests name, and the packaged configuration passes
# `wavemill config check`.  Needs root.
set -u
cd "$(dirname "$0")/../.."
[ -f deploy/local/env ] && . deploy/local/env
fails=0
ok() { echo "ok   - $1"; }
no() { echo "FAIL - $1"; fails=$((fails + 1)); }
[ "$(id -u)" = 0 ] || { echo "FAIL - needs root"; exit 1; }
for t in podman buildah debootstrap; do
    command -v $t >/dev/null || { echo "FAIL - $t missing (deploy/local/install-deps)"; exit 1; }
done
IMG=localhost/wavemill-test-$$:latest CTR=
TMP=$(mktemp -d /tmp/wm_image.XXXXXX)
cleanup() {
    [ -n "$CTR" ] && buildah rm "$CTR" >/dev/null 2>&1
    podman rmi -f "$IMG" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

base=$(timeout 600 deploy/container/base-image 2>"$TMP/base.log" | tail -1)
[ -n "$base" ] && ok "Debian base image $base" || { no "base image: $(tail -5 "$TMP/base.log")"; exit 1; }
if timeout 1500 podman build --isolation=chroot --build-arg BASE="$base" \
        -f deploy/container/Containerfile -t "$IMG" . >"$TMP/build.log" 2>&1; then
    ok "podman build: two stages, $(grep -c 'STEP' "$TMP/build.log") steps"
else
    no "podman build: $(tail -8 "$TMP/build.log")"; exit 1
fi
CTR=$(buildah from "$IMG" 2>"$TMP/err" | tail -1)
[ -n "$CTR" ] || { no "buildah from: $(cat "$TMP/err")"; exit 1; }
# buildah run once returned nothing at all under load (seen once in ~6
# runs): a run with no output and a failed status is retried once, and a
# failure says the status
in_image() {
    local out rc
    out=$(timeout 120 buildah run --isolation chroot "$CTR" -- "$@" 2>&1); rc=$?
    if [ $rc != 0 ] && [ -z "$out" ]; then
        out=$(timeout 120 buildah run --isolation chroot "$CTR" -- "$@" 2>&1); rc=$?
    fi
    printf '%s' "$out"
    [ -n "$out" ] || printf '(no output, status %s)' "$rc"
    return $rc
}
[ "$(in_image id -u 2>&1)" = 999 ] && ok "the image runs as uid 999 (the manifests' runAsUser)" || no "uid: $(in_image id 2>&1)"
for p in wavemill wavemill-scheduler wavemill-worker wavemill-receiver wavemill-agent; do
    out=$(in_image "$p" --version 2>&1)
    echo "$out" | grep -qx "$p [0-9.]*" && ok "image: $out" || no "image: $p --version: $out"
done
out=$(in_image wavemill config check /etc/wavemill/wavemill.conf 2>&1) && ok "image: packaged configuration passes config check" ||
    no "image config check: $out"
out=$(in_image sh -c 'ls /usr/share/wavemill/sql | wc -l' 2>&1)
[ "$out" = "$(ls schemas/sql/*.sql | wc -l)" ] && ok "image: $out migrations" || no "image migrations: $out"
out=$(in_image sh -c 'ls /usr/bin/gcc /src 2>&1 | grep -c "No such"' 2>&1)
[ "$out" = 2 ] && ok "image: no compiler, no source (multi-stage)" || no "image holds build stage files: $out"

[ $fails = 0 ] && echo "deploy_container: all passed" || echo "deploy_container: $fails failed"
[ $fails = 0 ]
