/* lvirt — libvirt networks and domains for the libvirt provider (lvirt.h). */
#include "provider/libvirt/lvirt.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#define LVIRT_XML_MAX 8192

/* Set once a KVM guest failed here (qemu refused it, or it stopped or was
 * paused by an emulation failure while booting: on some hosts /dev/kvm is
 * there but the vCPU dies in the firmware or bootloader).  From then on
 * this process defines TCG guests directly. */
static atomic_int kvm_broken;

/* libvirt prints every error on stderr by default; we put them in err. */
static void lvirt_quiet(void *arg, virErrorPtr e)
{
    (void)arg;
    (void)e;
}

static int lvirt_fail(char *err, size_t errlen, const char *what)
{
    const char *m = virGetLastErrorMessage();
    snprintf(err, errlen, "%s: %s", what, m && *m ? m : "unknown libvirt error");
    int code = virGetLastErrorCode();
    return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_NO_NETWORK ? -ENOENT : -EIO;
}

/* XML-escapes s into out (truncating). */
static const char *xesc(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; s && *s && o + 7 < cap; s++) {
        const char *r = NULL;
        switch (*s) {
        case '&':
            r = "&amp;";
            break;
        case '<':
            r = "&lt;";
            break;
        case '>':
            r = "&gt;";
            break;
        case '\'':
            r = "&apos;";
            break;
        case '"':
            r = "&quot;";
            break;
        default:
            out[o++] = *s;
            continue;
        }
        o += (size_t)snprintf(out + o, cap - o, "%s", r);
    }
    out[o] = '\0';
    return out;
}

virConnectPtr lvirt_open(const char *uri, char *err, size_t errlen)
{
    virSetErrorFunc(NULL, lvirt_quiet);
    virConnectPtr c = virConnectOpen(uri && *uri ? uri : NULL);
    if (!c) {
        char what[300];
        snprintf(what, sizeof(what), "cannot connect to %s", uri && *uri ? uri : "(default)");
        lvirt_fail(err, errlen, what);
    }
    return c;
}

void lvirt_close(virConnectPtr c)
{
    if (c)
        virConnectClose(c);
}

/* --- networks --- */

/* "a.b.c" of "a.b.c.1", or -EINVAL. */
static int net_prefix(const char *address, char *out, size_t cap)
{
    const char *dot = strrchr(address ? address : "", '.');
    if (!dot || strcmp(dot, ".1") != 0 || (size_t)(dot - address) >= cap)
        return -EINVAL;
    snprintf(out, cap, "%.*s", (int)(dot - address), address);
    return 0;
}

static int net_xml(const struct lvirt_net *n, char *xml, size_t cap, char *err, size_t errlen)
{
    char pre[64], fwd[64] = "";
    if (net_prefix(n->address, pre, sizeof(pre)) < 0) {
        snprintf(err, errlen, "network %s: address %s is not a.b.c.1", n->name,
                 n->address ? n->address : "(none)");
        return -EINVAL;
    }
    if (n->forward && *n->forward && strcmp(n->forward, "none") != 0) {
        if (strcmp(n->forward, "route") != 0 && strcmp(n->forward, "nat") != 0) {
            snprintf(err, errlen, "network %s: forward '%s' is not none, route or nat", n->name,
                     n->forward);
            return -EINVAL;
        }
        snprintf(fwd, sizeof(fwd), "<forward mode='%s'/>", n->forward);
    }
    snprintf(xml, cap,
             "<network><name>%s</name>%s<bridge name='%s' stp='off' delay='0'/>"
             "<ip address='%s' netmask='255.255.255.0'><dhcp>"
             "<range start='%s.100' end='%s.250'/></dhcp></ip></network>",
             n->name, fwd, n->bridge, n->address, pre, pre);
    return 0;
}

int lvirt_net_ensure(virConnectPtr c, const struct lvirt_net *n, char *err, size_t errlen)
{
    char xml[LVIRT_XML_MAX], what[200];
    virNetworkPtr net = virNetworkLookupByName(c, n->name);
    if (!net) {
        int rc = net_xml(n, xml, sizeof(xml), err, errlen);
        if (rc < 0)
            return rc;
        net = virNetworkDefineXML(c, xml);
        if (!net) {
            /* another worker may have defined it a moment ago */
            net = virNetworkLookupByName(c, n->name);
            if (!net) {
                snprintf(what, sizeof(what), "define network %s", n->name);
                return lvirt_fail(err, errlen, what);
            }
        }
    }
    int rc = 0;
    if (virNetworkIsActive(net) != 1 && virNetworkCreate(net) < 0 && virNetworkIsActive(net) != 1) {
        snprintf(what, sizeof(what), "start network %s", n->name);
        rc = lvirt_fail(err, errlen, what);
    }
    virNetworkFree(net);
    return rc;
}

int lvirt_net_remove(virConnectPtr c, const char *name, char *err, size_t errlen)
{
    char what[200];
    virNetworkPtr net = virNetworkLookupByName(c, name);
    if (!net)
        return 0;
    int rc = 0;
    if (virNetworkIsActive(net) == 1 && virNetworkDestroy(net) < 0) {
        snprintf(what, sizeof(what), "stop network %s", name);
        rc = lvirt_fail(err, errlen, what);
    }
    if (rc == 0 && virNetworkIsPersistent(net) == 1 && virNetworkUndefine(net) < 0) {
        snprintf(what, sizeof(what), "undefine network %s", name);
        rc = lvirt_fail(err, errlen, what);
    }
    virNetworkFree(net);
    return rc;
}

/* --- domains --- */

static void dom_xml(const struct lvirt_dom *d, bool kvm, char *xml, size_t cap)
{
    char disk[1200], log[1200], title[400];
    snprintf(xml, cap,
             "<domain type='%s'><name>%s</name><uuid>%s</uuid><title>%s</title>"
             "<memory unit='MiB'>%d</memory><vcpu>1</vcpu>"
             "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/>"
             "<bios useserial='yes'/></os>" /* firmware messages on the console too */
             "<features><acpi/></features>"
             "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
             "<on_crash>destroy</on_crash><devices>"
             "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
             "<source file='%s'/><target dev='vda' bus='virtio'/></disk>"
             "<interface type='network'><mac address='%s'/><source network='%s'/>"
             "<model type='virtio'/><rom enabled='no'/></interface>"
             "<serial type='pty'><log file='%s' append='on'/><target port='0'/></serial>"
             "<console type='pty'><target type='serial' port='0'/></console>"
             "</devices></domain>",
             kvm ? "kvm" : "qemu", d->name, d->uuid, xesc(d->title, title, sizeof(title)),
             d->memory_mib > 0 ? d->memory_mib : 256, xesc(d->disk, disk, sizeof(disk)), d->mac,
             d->network, xesc(d->console_log, log, sizeof(log)));
}

bool lvirt_host_has_kvm(virConnectPtr c)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        return false;
    char *caps = virConnectGetCapabilities(c);
    bool kvm = caps && strstr(caps, "<domain type='kvm'") != NULL;
    free(caps);
    return kvm;
}

int lvirt_dom_running(virDomainPtr d)
{
    int state = 0, reason = 0;
    if (virDomainGetState(d, &state, &reason, 0) < 0)
        return 0;
    /* a guest paused by the hypervisor (crash, emulation error) is not */
    return state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED ||
           (state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_USER);
}

/* Defines d with the accelerator kvm or not; the domain or NULL. */
static virDomainPtr dom_define(virConnectPtr c, const struct lvirt_dom *d, bool kvm, char *err,
                               size_t errlen)
{
    char *xml = malloc(LVIRT_XML_MAX), what[200];
    if (!xml) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dom_xml(d, kvm, xml, LVIRT_XML_MAX);
    virDomainPtr dom = virDomainDefineXML(c, xml);
    free(xml);
    if (!dom) {
        snprintf(what, sizeof(what), "define domain %s", d->name);
        lvirt_fail(err, errlen, what);
    }
    return dom;
}

/* The domain of d (by UUID, then name), or NULL when there is none. */
static virDomainPtr dom_lookup(virConnectPtr c, const struct lvirt_dom *d)
{
    virDomainPtr dom = virDomainLookupByUUIDString(c, d->uuid);
    return dom ? dom : virDomainLookupByName(c, d->name);
}

static bool dom_is_kvm(virDomainPtr dom)
{
    char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
    bool kvm = xml && strstr(xml, "<domain type='kvm'") != NULL;
    free(xml);
    return kvm;
}

/* Starts a defined domain; a KVM one that fails to start is redefined
 * as TCG once (accel auto). */
static int dom_start(virConnectPtr c, const struct lvirt_dom *d, virDomainPtr *dom, bool *used_kvm,
                     char *err, size_t errlen)
{
    char what[200];
    *used_kvm = dom_is_kvm(*dom);
    int rc = 0;
    snprintf(what, sizeof(what), "start domain %s", d->name);
    int state = 0, reason = 0;
    if (virDomainIsActive(*dom) != 1) {
        if (virDomainCreate(*dom) < 0)
            rc = lvirt_fail(err, errlen, what);
    } else if (virDomainGetState(*dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED &&
               reason != VIR_DOMAIN_PAUSED_USER && virDomainResume(*dom) < 0) {
        /* a start cut short (its caller killed) can leave it paused */
        rc = lvirt_fail(err, errlen, what);
    }
    /* ... or still under way in libvirtd: it finishes it on its own */
    for (int i = 0; rc < 0 && i < 50; i++) {
        if (lvirt_dom_running(*dom))
            rc = 0;
        else
            usleep(100 * 1000);
    }
    if (rc == 0 || !*used_kvm || d->accel != LVIRT_ACCEL_AUTO)
        return rc;
    atomic_store(&kvm_broken, 1);
    virDomainDestroy(*dom);
    virDomainUndefine(*dom);
    virDomainFree(*dom);
    if (!(*dom = dom_define(c, d, false, err, errlen)))
        return -EIO;
    *used_kvm = false;
    if (virDomainCreate(*dom) == 0)
        return 0;
    return lvirt_fail(err, errlen, what);
}

int lvirt_dom_ensure(virConnectPtr c, const struct lvirt_dom *d, int *created, bool *used_kvm,
                     char *err, size_t errlen)
{
    *created = 0;
    virDomainPtr dom = dom_lookup(c, d);
    if (!dom) {
        bool kvm =
            d->accel == LVIRT_ACCEL_KVM ||
            (d->accel == LVIRT_ACCEL_AUTO && !atomic_load(&kvm_broken) && lvirt_host_has_kvm(c));
        if (!(dom = dom_define(c, d, kvm, err, errlen)))
            return -EIO;
        *created = 1;
    }
    int rc = dom_start(c, d, &dom, used_kvm, err, errlen);
    if (dom)
        virDomainFree(dom);
    return rc;
}

int lvirt_dom_find(virConnectPtr c, const char *name, virDomainPtr *out, char *err, size_t errlen)
{
    *out = virDomainLookupByName(c, name);
    if (*out)
        return 1;
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
        return 0;
    char what[200];
    snprintf(what, sizeof(what), "look up domain %s", name);
    return lvirt_fail(err, errlen, what);
}

int lvirt_dom_kvm_failed(virDomainPtr d)
{
    return dom_is_kvm(d) && !lvirt_dom_running(d);
}

int lvirt_dom_to_tcg(virConnectPtr c, virDomainPtr *d, char *err, size_t errlen)
{
    char what[200];
    snprintf(what, sizeof(what), "restart domain %s under TCG", virDomainGetName(*d));
    char *xml = virDomainGetXMLDesc(*d, VIR_DOMAIN_XML_INACTIVE);
    char *at = xml ? strstr(xml, "<domain type='kvm'") : NULL;
    if (!at) {
        free(xml);
        snprintf(err, errlen, "%s: not a KVM domain", what);
        return -EINVAL;
    }
    atomic_store(&kvm_broken, 1);
    const char *kvm = "<domain type='kvm'", *tcg = "<domain type='qemu'";
    size_t len = strlen(xml) + 2;
    char *txml = malloc(len);
    if (!txml) {
        free(xml);
        snprintf(err, errlen, "%s: out of memory", what);
        return -ENOMEM;
    }
    snprintf(txml, len, "%.*s%s%s", (int)(at - xml), xml, tcg, at + strlen(kvm));
    free(xml);
    virDomainDestroy(*d);
    virDomainPtr nd = virDomainDefineXML(c, txml);
    free(txml);
    if (!nd)
        return lvirt_fail(err, errlen, what);
    virDomainFree(*d);
    *d = nd;
    return virDomainCreate(nd) == 0 ? 0 : lvirt_fail(err, errlen, what);
}

int lvirt_dom_address(virDomainPtr d, char *addr, size_t addrlen, char *err, size_t errlen)
{
    virDomainInterfacePtr *ifs = NULL;
    addr[0] = '\0';
    int n = virDomainInterfaceAddresses(d, &ifs, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0);
    if (n < 0)
        return lvirt_fail(err, errlen, "read DHCP leases");
    for (int i = 0; i < n; i++) {
        for (unsigned j = 0; j < ifs[i]->naddrs && !addr[0]; j++)
            if (ifs[i]->addrs[j].type == VIR_IP_ADDR_TYPE_IPV4)
                snprintf(addr, addrlen, "%s", ifs[i]->addrs[j].addr);
        virDomainInterfaceFree(ifs[i]);
    }
    free(ifs);
    return 0;
}

static int nic_update(virDomainPtr d, const char *mac, const char *network, const char *link,
                      char *err, size_t errlen)
{
    char xml[1024], what[200];
    snprintf(xml, sizeof(xml),
             "<interface type='network'><mac address='%s'/><source network='%s'/>"
             "<model type='virtio'/><rom enabled='no'/><link state='%s'/></interface>",
             mac, network, link);
    unsigned flags = VIR_DOMAIN_AFFECT_LIVE;
    if (virDomainIsPersistent(d) == 1)
        flags |= VIR_DOMAIN_AFFECT_CONFIG;
    if (virDomainUpdateDeviceFlags(d, xml, flags) == 0)
        return 0;
    snprintf(what, sizeof(what), "move NIC %s to network %s (link %s)", mac, network, link);
    return lvirt_fail(err, errlen, what);
}

int lvirt_dom_move(virDomainPtr d, const char *mac, const char *network, char *err, size_t errlen)
{
    int rc = nic_update(d, mac, network, "down", err, errlen);
    if (rc == 0) {
        usleep(2500 * 1000); /* long enough for a guest polling its carrier each second */
        rc = nic_update(d, mac, network, "up", err, errlen);
    }
    return rc;
}

int lvirt_dom_remove(virConnectPtr c, const char *name, char *err, size_t errlen)
{
    char what[200];
    virDomainPtr d = virDomainLookupByName(c, name);
    if (!d)
        return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN
                   ? 0
                   : lvirt_fail(err, errlen, "look up domain");
    int rc = 0;
    if (virDomainIsActive(d) == 1 && virDomainDestroy(d) < 0) {
        snprintf(what, sizeof(what), "destroy domain %s", name);
        rc = lvirt_fail(err, errlen, what);
    }
    if (rc == 0 && virDomainIsPersistent(d) == 1 && virDomainUndefine(d) < 0) {
        snprintf(what, sizeof(what), "undefine domain %s", name);
        rc = lvirt_fail(err, errlen, what);
    }
    virDomainFree(d);
    return rc;
}

int lvirt_dom_list(virConnectPtr c, const char *prefix, char (*names)[LVIRT_NAME_LEN], size_t max,
                   size_t *n, char *err, size_t errlen)
{
    virDomainPtr *doms = NULL;
    *n = 0;
    int k = virConnectListAllDomains(c, &doms, 0);
    if (k < 0)
        return lvirt_fail(err, errlen, "list domains");
    size_t plen = strlen(prefix);
    for (int i = 0; i < k; i++) {
        const char *name = virDomainGetName(doms[i]);
        if (name && strncmp(name, prefix, plen) == 0 && *n < max)
            snprintf(names[(*n)++], LVIRT_NAME_LEN, "%s", name);
        virDomainFree(doms[i]);
    }
    free(doms);
    return 0;
}
