/* provider_libvirt — the "libvirt" target provider; see provider_libvirt.h. */
#include "provider/libvirt/provider_libvirt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "driver_instance.h"
#include "http.h"
#include "log.h"
#include "provider/libvirt/lvirt.h"
#include "provider/provider_exec.h" /* provider_exec_client_token */
#include "rsnap.h"
#include "task.h"

#define LV_CONSOLE_TAIL 4096 /* bytes of console read for an error */
#define LV_MAX_DOMS 32

static const struct wm_config_key libvirt_keys[] = {
    {"libvirt.uri", WM_CFG_STRING, "qemu:///system", 0, 0, false,
     "hypervisor connection (qemu:///system here, qemu+ssh://host/system remote)"},
    {"libvirt.replica_dir", WM_CFG_STRING, "", 0, 0, false,
     "the receiver's volume folder (its --root) as the hypervisor host sees it"},
    {"libvirt.state_dir", WM_CFG_STRING, "/var/lib/wavemill/libvirt", 0, 0, false,
     "instances' disk copies and console logs"},
    {"libvirt.accel", WM_CFG_STRING, "auto", 0, 0, false,
     "auto (KVM if a guest starts with it, else TCG), kvm or tcg"},
    {"libvirt.memory", WM_CFG_SIZE, "256M", 64 << 20, 1LL << 40, false, "guest memory"},
    {"libvirt.test_network", WM_CFG_STRING, "wm-test", 0, 0, false,
     "isolated network of test (and new cutover) instances"},
    {"libvirt.test_bridge", WM_CFG_STRING, "wmbr-test", 0, 0, false, "its bridge"},
    {"libvirt.test_address", WM_CFG_STRING, "10.239.0.1", 0, 0, false,
     "the host's address on it (a.b.c.1 of a /24)"},
    {"libvirt.live_network", WM_CFG_STRING, "wm-live", 0, 0, false,
     "network cutover instances move to at post_cutover"},
    {"libvirt.live_bridge", WM_CFG_STRING, "wmbr-live", 0, 0, false, "its bridge"},
    {"libvirt.live_address", WM_CFG_STRING, "10.239.1.1", 0, 0, false,
     "the host's address on it (a.b.c.1 of a /24)"},
    {"libvirt.live_forward", WM_CFG_STRING, "none", 0, 0, false,
     "forwarding of the live network: none, route or nat"},
    {"libvirt.boot_line", WM_CFG_STRING, "WAVEMILL-BOOT-DONE", 0, 0, false,
     "what a guest writes on its serial console when it has booted"},
    {"libvirt.boot_timeout", WM_CFG_DURATION, "180s", 1000, 3600000, false,
     "longest wait for the boot line, the lease and the probe"},
    {"libvirt.probe_url", WM_CFG_STRING, "", 0, 0, false,
     "URL that must answer 200 after boot ({address} = the guest's); empty = none"},
};

int provider_libvirt_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, libvirt_keys, sizeof(libvirt_keys) / sizeof(libvirt_keys[0]), err,
                             errlen);
}

static const char *cfg(const struct task_ctx *t, const char *key)
{
    const char *v = wm_config_str(t->cfg, key);
    return v ? v : "";
}

static const char *purpose_of(enum launch_kind kind)
{
    return kind == LAUNCH_TEST ? "test" : "cutover";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- names --- */

/* "wm-<server>-<t|c>-": the prefix of every domain of the server and kind
 * (server name reduced to [a-z0-9-], at most 32 chars). */
static void dom_prefix(const struct task_ctx *t, enum launch_kind kind, char *out, size_t cap)
{
    char s[33];
    size_t o = 0;
    for (const char *p = t->msg.server; *p && o < sizeof(s) - 1; p++)
        s[o++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
    s[o] = '\0';
    snprintf(out, cap, "wm-%s-%c-", s, kind == LAUNCH_TEST ? 't' : 'c');
}

struct lv_names {
    char token[PROVIDER_EXEC_TOKEN_LEN];
    char dom[LVIRT_NAME_LEN], uuid[40], mac[20];
    char disk[4200], console[4200];
};

/* Everything named after the launch's client token: a retried launch
 * computes the same names and finds what an earlier attempt made. */
static void names_of(const struct task_ctx *t, enum launch_kind kind, struct lv_names *n)
{
    char prefix[48];
    provider_exec_client_token(t->msg.task_id, t->msg.server,
                               kind == LAUNCH_TEST ? "launch_test" : "launch_cutover", n->token,
                               sizeof(n->token));
    const char *hex = n->token + 3; /* "wm-" + 32 hex */
    dom_prefix(t, kind, prefix, sizeof(prefix));
    snprintf(n->dom, sizeof(n->dom), "%s%.12s", prefix, hex);
    snprintf(n->uuid, sizeof(n->uuid), "%.32s", hex);
    snprintf(n->mac, sizeof(n->mac), "52:54:00:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4);
    snprintf(n->disk, sizeof(n->disk), "%s/%s.disk0.img", cfg(t, "libvirt.state_dir"), n->dom);
    snprintf(n->console, sizeof(n->console), "%s/%s.console.log", cfg(t, "libvirt.state_dir"),
             n->dom);
}

static void files_of(const struct task_ctx *t, const char *dom, char *disk, char *console,
                     size_t cap)
{
    snprintf(disk, cap, "%s/%s.disk0.img", cfg(t, "libvirt.state_dir"), dom);
    snprintf(console, cap, "%s/%s.console.log", cfg(t, "libvirt.state_dir"), dom);
}

/* --- connection and networks --- */

static virConnectPtr lv_open(struct task_ctx *t)
{
    char err[512];
    virConnectPtr c = lvirt_open(cfg(t, "libvirt.uri"), err, sizeof(err));
    if (!c)
        task_fail(t, "libvirt: %s (is libvirtd running? deploy/local/up starts it)", err);
    return c;
}

static int lv_fail(struct task_ctx *t, int rc, const char *err)
{
    task_fail(t, "libvirt: %s", err);
    return rc < 0 ? rc : -EIO;
}

static int net_ensure(struct task_ctx *t, virConnectPtr c, bool live)
{
    char err[512];
    struct lvirt_net n = {
        cfg(t, live ? "libvirt.live_network" : "libvirt.test_network"),
        cfg(t, live ? "libvirt.live_bridge" : "libvirt.test_bridge"),
        cfg(t, live ? "libvirt.live_address" : "libvirt.test_address"),
        live ? cfg(t, "libvirt.live_forward") : "none",
    };
    int rc = lvirt_net_ensure(c, &n, err, sizeof(err));
    return rc < 0 ? lv_fail(t, rc, err) : 0;
}

/* state_dir/kvm-broken: a KVM guest died booting on this host, so every
 * worker sharing the state dir launches TCG guests from then on (remove
 * the file after fixing KVM). */
static void kvm_marker(const struct task_ctx *t, char *out, size_t cap)
{
    snprintf(out, cap, "%s/kvm-broken", cfg(t, "libvirt.state_dir"));
}

static enum lvirt_accel accel_of(struct task_ctx *t)
{
    const char *a = cfg(t, "libvirt.accel");
    char marker[4200];
    kvm_marker(t, marker, sizeof(marker));
    return strcmp(a, "kvm") == 0       ? LVIRT_ACCEL_KVM
           : strcmp(a, "tcg") == 0     ? LVIRT_ACCEL_TCG
           : access(marker, F_OK) == 0 ? LVIRT_ACCEL_TCG
                                       : LVIRT_ACCEL_AUTO;
}

static int lv_check_target(struct task_ctx *t)
{
    const char *dir = cfg(t, "libvirt.replica_dir");
    if (!*dir || access(dir, R_OK | X_OK) != 0)
        return task_fail(t, "libvirt: libvirt.replica_dir '%s' is not a readable folder", dir);
    virConnectPtr c = lv_open(t);
    if (!c)
        return -EIO;
    int rc = net_ensure(t, c, false);
    if (rc == 0)
        rc = net_ensure(t, c, true);
    lvirt_close(c);
    return rc;
}

/* --- launch --- */

/* disk0's replica at its committed generation, copied to n->disk. */
static int clone_disk(struct task_ctx *t, const struct lv_names *n)
{
    struct driver_disk d[1];
    size_t nd = 0;
    char err[512];
    int rc = driver_disks(t, d, 1, &nd);
    if (rc < 0)
        return rc;
    if (nd == 0 || !d[0].target_volume[0])
        return task_fail(t, "libvirt: server %s has no replicated disk to boot", t->msg.server);
    if (mkdir(cfg(t, "libvirt.state_dir"), 0755) < 0 && errno != EEXIST)
        return task_fail(t, "libvirt: cannot make libvirt.state_dir %s: %s",
                         cfg(t, "libvirt.state_dir"), strerror(errno));
    uint64_t gen = 0;
    int refl = 0;
    int64_t t0 = now_ms();
    rc = rsnap_copy(cfg(t, "libvirt.replica_dir"), d[0].target_volume, n->disk, &gen, &refl, err,
                    sizeof(err));
    if (rc < 0)
        return lv_fail(t, rc, err);
    wm_info("libvirt.disk_cloned", "server=%s volume=%s gen=%" PRIu64 " how=%s ms=%lld dst=%s",
            t->msg.server, d[0].target_volume, gen, refl ? "reflink" : "copy",
            (long long)(now_ms() - t0), n->disk);
    return 0;
}

static int lv_launch(struct task_ctx *t, enum launch_kind kind, char *id, size_t idlen)
{
    struct lv_names n;
    char err[512], title[200];
    names_of(t, kind, &n);
    virConnectPtr c = lv_open(t);
    if (!c)
        return -EIO;
    virDomainPtr dom = NULL;
    int rc = lvirt_dom_find(c, n.dom, &dom, err, sizeof(err));
    if (rc < 0)
        rc = lv_fail(t, rc, err);
    else if (rc == 0) /* none yet: its disk, from the last committed generation */
        rc = clone_disk(t, &n);
    else {
        wm_info("libvirt.launch_reused", "server=%s domain=%s", t->msg.server, n.dom);
        rc = 0;
    }
    if (dom)
        virDomainFree(dom);
    if (rc == 0)
        rc = net_ensure(t, c, false);
    snprintf(title, sizeof(title), "wavemill %s instance of %s (wave %s)", purpose_of(kind),
             t->msg.server, t->msg.wave);
    struct lvirt_dom d = {
        n.dom,      n.uuid,    n.disk, cfg(t, "libvirt.test_network"),
        n.mac,      n.console, title,  (int)(wm_config_int(t->cfg, "libvirt.memory") >> 20),
        accel_of(t)};
    int created = 0;
    bool kvm = false;
    if (rc == 0 && (rc = lvirt_dom_ensure(c, &d, &created, &kvm, err, sizeof(err))) < 0)
        lv_fail(t, rc, err);
    lvirt_close(c);
    if (rc == 0)
        rc = driver_instance_save(t, kind, n.dom, "");
    if (rc == 0) {
        snprintf(id, idlen, "%s", n.dom);
        wm_info("libvirt.instance_started", "server=%s purpose=%s domain=%s accel=%s new=%d",
                t->msg.server, purpose_of(kind), n.dom, kvm ? "kvm" : "tcg", created);
    }
    return rc;
}

/* --- check_instance --- */

/* The last `lines` lines of the console log (printable, '|' between), "" if
 * none. */
static void console_tail(const char *path, int lines, char *out, size_t cap)
{
    char buf[LV_CONSOLE_TAIL + 1];
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END), from = end > LV_CONSOLE_TAIL ? end - LV_CONSOLE_TAIL : 0;
    ssize_t k = pread(fd, buf, LV_CONSOLE_TAIL, from);
    close(fd);
    if (k <= 0)
        return;
    buf[k] = '\0';
    /* keep printable text; lines split on \n, \r dropped, empty lines skipped */
    char *starts[64];
    int n = 0;
    char *s = buf;
    for (char *p = buf; p <= buf + k; p++) {
        if (*p == '\n' || *p == '\0') {
            *p = '\0';
            if (*s && n < 64)
                starts[n++] = s;
            else if (*s) {
                memmove(starts, starts + 1, sizeof(starts[0]) * 63);
                starts[63] = s;
            }
            s = p + 1;
        } else if (*p == '\r' || !isprint((unsigned char)*p)) {
            *p = ' ';
        }
    }
    size_t o = 0;
    for (int i = n > lines ? n - lines : 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? " | " : "", starts[i]);
}

/* 1 when the console log holds the boot line. */
static int console_has(const char *path, const char *line)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[1024];
    int found = 0;
    while (!found && fgets(buf, sizeof(buf), f))
        found = strstr(buf, line) != NULL;
    fclose(f);
    return found;
}

static int probe_ok(const char *tmpl, const char *addr)
{
    char url[512];
    const char *at = strstr(tmpl, "{address}");
    if (at)
        snprintf(url, sizeof(url), "%.*s%s%s", (int)(at - tmpl), tmpl, addr, at + 9);
    else
        snprintf(url, sizeof(url), "%s", tmpl);
    struct wm_http_request req = {
        .method = "GET", .url = url, .timeout_ms = 3000, .connect_timeout_ms = 2000};
    struct wm_http_response resp;
    char err[256];
    int rc = wm_http_do(&req, &resp, err, sizeof(err));
    int ok = rc == 0 && resp.status == 200;
    wm_http_response_free(&resp);
    return ok;
}

enum wait_stage { W_BOOT, W_LEASE, W_PROBE, W_DONE };

/* One poll of the guest: advances *stage as far as it gets now.  A KVM
 * guest that died booting is restarted under TCG (-EAGAIN: wait anew). */
static int boot_poll(struct task_ctx *t, virConnectPtr c, virDomainPtr *dom, const char *console,
                     enum wait_stage *st, char *addr, size_t addrlen)
{
    char err[512];
    if (strcmp(cfg(t, "libvirt.accel"), "auto") == 0 && lvirt_dom_kvm_failed(*dom)) {
        wm_warn("libvirt.kvm_fallback",
                "server=%s domain=%s reason=\"KVM guest stopped while "
                "booting; restarting it under TCG\"",
                t->msg.server, virDomainGetName(*dom));
        char marker[4200];
        kvm_marker(t, marker, sizeof(marker));
        int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
        int rc = lvirt_dom_to_tcg(c, dom, err, sizeof(err));
        return rc < 0 ? lv_fail(t, rc, err) : -EAGAIN;
    }
    if (!lvirt_dom_running(*dom))
        return -ESRCH;
    if (*st == W_BOOT && console_has(console, cfg(t, "libvirt.boot_line")))
        *st = W_LEASE;
    if (*st == W_LEASE) {
        if (lvirt_dom_address(*dom, addr, addrlen, err, sizeof(err)) < 0)
            return lv_fail(t, -EIO, err);
        if (addr[0])
            *st = *cfg(t, "libvirt.probe_url") ? W_PROBE : W_DONE;
    }
    if (*st == W_PROBE && probe_ok(cfg(t, "libvirt.probe_url"), addr))
        *st = W_DONE;
    return 0;
}

static const char *stage_what(enum wait_stage st)
{
    return st == W_BOOT    ? "did not show its boot line"
           : st == W_LEASE ? "booted but got no DHCP lease"
                           : "booted but its probe URL did not answer 200";
}

/* Waits for the guest of *dom to boot (console line, lease, probe). */
static int boot_wait(struct task_ctx *t, virConnectPtr c, enum launch_kind kind, virDomainPtr *dom,
                     const char *name, char *addr, size_t addrlen)
{
    char console[4200], disk[4200], tail[400];
    files_of(t, name, disk, console, sizeof(console));
    int64_t t0 = now_ms(), limit = wm_config_int(t->cfg, "libvirt.boot_timeout");
    enum wait_stage st = W_BOOT;
    int rc = 0;
    while (rc == 0 && st != W_DONE) {
        if (task_should_stop(t))
            return -ECANCELED;
        rc = boot_poll(t, c, dom, console, &st, addr, addrlen);
        if (rc == -EAGAIN) { /* restarted under TCG: its boot starts over */
            t0 = now_ms();
            st = W_BOOT;
            rc = 0;
        }
        if (rc < 0 || st == W_DONE)
            break;
        if (now_ms() - t0 > limit) {
            rc = -ETIMEDOUT;
            break;
        }
        usleep(250 * 1000);
    }
    if (rc == 0) {
        wm_info("libvirt.booted", "server=%s purpose=%s domain=%s address=%s waited_ms=%lld",
                t->msg.server, purpose_of(kind), name, addr, (long long)(now_ms() - t0));
        return 0;
    }
    if (rc != -ETIMEDOUT && rc != -ESRCH)
        return rc;
    console_tail(console, 6, tail, sizeof(tail));
    wm_error("libvirt.boot_failed", "server=%s domain=%s console=\"%s\"", t->msg.server, name,
             tail);
    return task_fail(t, "libvirt: %s instance %s %s%s within %llds; console: %s", purpose_of(kind),
                     name, rc == -ESRCH ? "stopped, it " : "", stage_what(st),
                     (long long)(limit / 1000), tail[0] ? tail : "(empty)");
}

/* The recorded domain of kind, looked up: 0 with *dom, or failed. */
static int recorded(struct task_ctx *t, virConnectPtr c, enum launch_kind kind, char *name,
                    virDomainPtr *dom)
{
    char addr[DRIVER_ADDR_LEN], err[512];
    int rc = driver_instance_get(t, kind, name, addr);
    if (rc < 0)
        return rc;
    if (rc == 0 || !name[0])
        return task_fail(t, "libvirt: server %s has no %s instance (launch first)", t->msg.server,
                         purpose_of(kind));
    rc = lvirt_dom_find(c, name, dom, err, sizeof(err));
    if (rc < 0)
        return lv_fail(t, rc, err);
    if (rc == 0)
        return task_fail(t, "libvirt: %s instance %s is gone from %s", purpose_of(kind), name,
                         cfg(t, "libvirt.uri"));
    return 0;
}

static int lv_check_instance(struct task_ctx *t, enum launch_kind kind)
{
    char name[DRIVER_INSTANCE_ID_LEN], addr[LVIRT_ADDR_LEN] = "";
    virConnectPtr c = lv_open(t);
    if (!c)
        return -EIO;
    virDomainPtr dom = NULL;
    int rc = recorded(t, c, kind, name, &dom);
    if (rc == 0)
        rc = boot_wait(t, c, kind, &dom, name, addr, sizeof(addr));
    if (dom)
        virDomainFree(dom);
    lvirt_close(c);
    return rc < 0 ? rc : driver_instance_save(t, kind, name, addr);
}

/* --- post_cutover --- */

/* The MAC of the domain's first NIC, from its XML. */
static int dom_mac(virDomainPtr dom, char *mac, size_t cap)
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    const char *p = xml ? strstr(xml, "<mac address='") : NULL;
    if (p)
        snprintf(mac, cap, "%.17s", p + 14);
    free(xml);
    return p ? 0 : -ENOENT;
}

static int lv_switch_network(struct task_ctx *t)
{
    char name[DRIVER_INSTANCE_ID_LEN], mac[20], err[512], addr[LVIRT_ADDR_LEN] = "";
    virConnectPtr c = lv_open(t);
    if (!c)
        return -EIO;
    virDomainPtr dom = NULL;
    int rc = recorded(t, c, LAUNCH_CUTOVER, name, &dom);
    if (rc == 0)
        rc = net_ensure(t, c, true);
    if (rc == 0 && dom_mac(dom, mac, sizeof(mac)) < 0)
        rc = task_fail(t, "libvirt: domain %s has no NIC", name);
    if (rc == 0 &&
        (rc = lvirt_dom_move(dom, mac, cfg(t, "libvirt.live_network"), err, sizeof(err))) < 0)
        lv_fail(t, rc, err);
    if (rc == 0)
        rc = boot_wait(t, c, LAUNCH_CUTOVER, &dom, name, addr, sizeof(addr)); /* the new lease */
    if (dom)
        virDomainFree(dom);
    lvirt_close(c);
    if (rc == 0 && (rc = driver_instance_save(t, LAUNCH_CUTOVER, name, addr)) == 0)
        wm_info("libvirt.network_switched", "server=%s domain=%s network=%s address=%s",
                t->msg.server, name, cfg(t, "libvirt.live_network"), addr);
    return rc;
}

/* --- terminate --- */

static int lv_terminate(struct task_ctx *t, enum launch_kind kind)
{
    char prefix[48], err[512], disk[4200], console[4200];
    char(*names)[LVIRT_NAME_LEN] = calloc(LV_MAX_DOMS, LVIRT_NAME_LEN);
    size_t n = 0;
    if (!names)
        return task_fail(t, "libvirt: out of memory");
    virConnectPtr c = lv_open(t);
    if (!c) {
        free(names);
        return -EIO;
    }
    dom_prefix(t, kind, prefix, sizeof(prefix));
    int rc = lvirt_dom_list(c, prefix, names, LV_MAX_DOMS, &n, err, sizeof(err));
    if (rc < 0)
        lv_fail(t, rc, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((rc = lvirt_dom_remove(c, names[i], err, sizeof(err))) < 0) {
            lv_fail(t, rc, err);
            break;
        }
        files_of(t, names[i], disk, console, sizeof(disk));
        unlink(disk);
        unlink(console);
        wm_info("libvirt.terminated", "server=%s purpose=%s domain=%s", t->msg.server,
                purpose_of(kind), names[i]);
    }
    lvirt_close(c);
    free(names);
    return rc;
}

static int lv_cmdb_update(struct task_ctx *t)
{
    wm_info("libvirt.cmdb_none", "server=%s reason=\"libvirt has no CMDB; cmdb.url does it\"",
            t->msg.server);
    return 0;
}

const struct provider_driver provider_libvirt_driver = {
    .name = "libvirt",
    .simulated = false,
    .check_target = lv_check_target,
    .launch = lv_launch,
    .check_instance = lv_check_instance,
    .switch_network = lv_switch_network,
    .cmdb_update = lv_cmdb_update,
    .terminate = lv_terminate,
};
