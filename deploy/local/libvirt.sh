# libvirt for the local stack: the system daemon (qemu:///system) that the
# libvirt provider, its tests and the demo use.  Sourced by deploy/local/up,
# down and status after lib.sh.  Started like Kafka and PostgreSQL: ours
# when our pidfile's process runs; one that answers but is not ours is used
# and never stopped.
#
# What a fresh machine lacks and this makes (root only):
#   - virtlogd (libvirtd hands guests' console logs to it)
#   - the system user and group libvirt-qemu: Debian's libvirt-daemon-system
#     makes them, libvirt-daemon alone does not, and libvirtd 9.0 resolves
#     that compiled-in user before it reads qemu.conf (no user, no driver)
#   - /etc/libvirt/qemu.conf when there is none (libvirt-daemon-system ships
#     it): user = group = "root", so guests open any disk root can
#   - the run and log folders
# Pidfiles and logs: $WM_STATE/libvirt/{virtlogd,libvirtd}.{pid,log}

WM_LIBVIRT_DIR="$WM_STATE/libvirt"
: "${WM_LIBVIRT_URI:=qemu:///system}"
# WM_LIBVIRT=0 skips libvirt (a stack without the libvirt provider)
: "${WM_LIBVIRT:=1}"

libvirt_answers() {
    timeout 10 virsh -q -c "$WM_LIBVIRT_URI" version >/dev/null 2>&1
}

libvirt_qemu_user() {
    getent passwd libvirt-qemu >/dev/null && return
    say "libvirt: creating system user libvirt-qemu (libvirtd needs its compiled-in qemu user to exist)"
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
    useradd --system --gid libvirt-qemu --no-create-home --home-dir /var/lib/libvirt \
        --shell /usr/sbin/nologin libvirt-qemu || die "libvirt user" "" "useradd libvirt-qemu failed"
}

libvirt_qemu_conf() {
    local f=/etc/libvirt/qemu.conf
    [ -f "$f" ] && return
    say "libvirt: writing $f (user = group = root: no qemu user on this machine)"
    mkdir -p /etc/libvirt
    cat >"$f" <<'CONF'
# Written by wavemill's deploy/local/up because the machine had none.
# Guests run as root: no dedicated qemu user exists here.
user = "root"
group = "root"
CONF
}

# libvirt_start NAME PIDFILE LOG ARGS...: a daemon with its own pidfile
libvirt_start() {
    local name=$1 pidf=$2 log=$3 i
    shift 3
    setsid "$@" --pid-file "$pidf" >>"$log" 2>&1 </dev/null 9>&- &
    for i in $(seq 1 100); do
        pid_alive "$pidf" "$name" >/dev/null && return 0
        sleep 0.1
    done
    die "libvirt start" "$log" "$name did not write its pidfile $pidf"
}

libvirt_up() {
    [ "$WM_LIBVIRT" = 1 ] || return 0
    if ! command -v libvirtd >/dev/null; then
        warn "libvirt: no libvirtd (deploy/local/install-deps installs it): libvirt provider unavailable"
        return 0
    fi
    local pid
    if pid=$(pid_alive "$WM_LIBVIRT_DIR/libvirtd.pid" libvirtd) && libvirt_answers; then
        say "libvirt: already running (libvirtd pid $pid), $WM_LIBVIRT_URI"
        return
    fi
    if [ -z "$pid" ] && libvirt_answers; then
        warn "libvirt: $WM_LIBVIRT_URI is served by a daemon this script did not start; using it (down will not stop it)"
        return
    fi
    [ "$(id -u)" -eq 0 ] || die "libvirt start" "" "the system libvirt daemon needs root (or start it yourself, or WM_LIBVIRT=0)"
    mkdir -p "$WM_LIBVIRT_DIR" /run/libvirt /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt
    libvirt_qemu_user
    libvirt_qemu_conf
    if ! pid_alive "$WM_LIBVIRT_DIR/virtlogd.pid" virtlogd >/dev/null; then
        say "libvirt: starting virtlogd, log $WM_LIBVIRT_DIR/virtlogd.log"
        libvirt_start virtlogd "$WM_LIBVIRT_DIR/virtlogd.pid" "$WM_LIBVIRT_DIR/virtlogd.log" virtlogd
    fi
    if [ -z "$pid" ]; then
        say "libvirt: starting libvirtd ($WM_LIBVIRT_URI), log $WM_LIBVIRT_DIR/libvirtd.log"
        libvirt_start libvirtd "$WM_LIBVIRT_DIR/libvirtd.pid" "$WM_LIBVIRT_DIR/libvirtd.log" libvirtd
    fi
    local i
    for i in $(seq 1 60); do
        libvirt_answers && { say "libvirt: up (libvirtd pid $(pid_alive "$WM_LIBVIRT_DIR/libvirtd.pid"))"; return; }
        sleep 0.5
    done
    die "libvirt start" "$WM_LIBVIRT_DIR/libvirtd.log" "virsh -c $WM_LIBVIRT_URI gets no answer"
}

# libvirt_stop_one NAME: TERM the daemon of our pidfile, wait, KILL
libvirt_stop_one() {
    local name=$1 pidf=$WM_LIBVIRT_DIR/$1.pid pid i
    pid=$(pid_alive "$pidf" "$name") || { rm -f "$pidf"; return 0; }
    say "libvirt: stopping $name pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidf"
}

# libvirt_down: stops the daemons we started.  Guests and networks the
# tests or the demo left are theirs to remove; libvirtd stopping leaves
# running qemu processes alone (libvirt's design), so say so.
libvirt_down() {
    [ -d "$WM_LIBVIRT_DIR" ] || return 0
    if pid_alive "$WM_LIBVIRT_DIR/libvirtd.pid" libvirtd >/dev/null; then
        local n
        n=$(virsh -q -c "$WM_LIBVIRT_URI" list --name 2>/dev/null | grep -c . || true)
        [ "$n" = 0 ] || warn "libvirt: $n domain(s) still running; they outlive libvirtd (virsh list)"
    fi
    libvirt_stop_one libvirtd
    libvirt_stop_one virtlogd
}

libvirt_status_row() { # for deploy/local/status: prints a row, returns 1 if down
    local pid st
    if pid=$(pid_alive "$WM_LIBVIRT_DIR/libvirtd.pid" libvirtd); then
        if libvirt_answers; then st=up; else st=starting; fi
    elif libvirt_answers; then pid="-" st=foreign
    else pid="-" st=down
    fi
    printf '%-7s %-8s %-7s %-16s %s\n' libvirt "$st" "$pid" "$WM_LIBVIRT_URI" "$WM_LIBVIRT_DIR"
    [ "$st" = up ] || [ "$st" = foreign ]
}
