/* lvirt — what the libvirt provider asks of a hypervisor, over libvirt's C
 * API: networks, domains booted from a disk image, their console and
 * address.  Knows nothing of tasks or the inventory (provider_libvirt.c
 * does); every call takes the connection it works on.
 *
 * Networks: an isolated one (no <forward>: guests reach each other and the
 * host's bridge address, libvirt's firewall rules reject everything
 * forwarded) for test instances, a live one (<forward mode=route|nat> or
 * none) for cutover instances.  Both hand out addresses by DHCP (dnsmasq);
 * a guest's address is read from the network's leases.
 *
 * Domains: one disk (virtio, raw), one NIC (virtio, on a network), the
 * serial console logged to a file by virtlogd.  The accelerator is KVM
 * when the host has it, else TCG; a KVM guest that dies while it boots is
 * moved to TCG by the caller (lvirt_dom_kvm_failed, lvirt_dom_to_tcg).
 *
 * Errors: negative errno with a sentence in err (libvirt's own message
 * included). */
#ifndef WM_LVIRT_H
#define WM_LVIRT_H

#include <stdbool.h>
#include <stddef.h>

#include <libvirt/libvirt.h>

#define LVIRT_NAME_LEN 64
#define LVIRT_ADDR_LEN 64

enum lvirt_accel { LVIRT_ACCEL_AUTO, LVIRT_ACCEL_KVM, LVIRT_ACCEL_TCG };

/* Opens uri (NULL = libvirt's default).  NULL with the reason in err. */
virConnectPtr lvirt_open(const char *uri, char *err, size_t errlen);
void lvirt_close(virConnectPtr c);

struct lvirt_net {
    const char *name;    /* libvirt network name */
    const char *bridge;  /* host bridge name (at most 15 chars) */
    const char *address; /* the host's address on it, a.b.c.1 (a /24) */
    const char *forward; /* NULL/"" or "none" = isolated; "route", "nat" */
};

/* Defines and starts net if it does not exist or is not running.  Its DHCP
 * range is .100-.250 of the /24. */
int lvirt_net_ensure(virConnectPtr c, const struct lvirt_net *net, char *err, size_t errlen);
/* Stops and undefines network name (absent: 0). */
int lvirt_net_remove(virConnectPtr c, const char *name, char *err, size_t errlen);

struct lvirt_dom {
    const char *name;        /* domain name */
    const char *uuid;        /* 32 hex digits (or with dashes) */
    const char *disk;        /* raw image path */
    const char *network;     /* network of the NIC */
    const char *mac;         /* 52:54:00:xx:xx:xx */
    const char *console_log; /* serial console log file */
    const char *title;       /* free text shown by virsh */
    int memory_mib;
    enum lvirt_accel accel;
};

/* Finds the domain by UUID (then by name), else defines it; then starts it
 * if it is not running.  *created = 1 when this call defined it.  The
 * accelerator used goes into *used_kvm. */
int lvirt_dom_ensure(virConnectPtr c, const struct lvirt_dom *d, int *created, bool *used_kvm,
                     char *err, size_t errlen);

/* 1 and the domain when name exists, 0 when not, negative on error. */
int lvirt_dom_find(virConnectPtr c, const char *name, virDomainPtr *out, char *err, size_t errlen);
/* 1 when the domain runs (or is paused), 0 otherwise. */
int lvirt_dom_running(virDomainPtr d);

/* A KVM domain that is no longer running (stopped, or paused by the
 * hypervisor): 1, else 0. */
int lvirt_dom_kvm_failed(virDomainPtr d);
/* Redefines the domain *d as TCG (same name, UUID, devices) and starts
 * it; later launches of this process go to TCG directly.  *d is replaced. */
int lvirt_dom_to_tcg(virConnectPtr c, virDomainPtr *d, char *err, size_t errlen);

/* The domain's IPv4 address from its network's DHCP leases ("" if none
 * yet): 0, or a negative errno. */
int lvirt_dom_address(virDomainPtr d, char *addr, size_t addrlen, char *err, size_t errlen);

/* Moves the domain's NIC (mac) to network: link down, new network, link up
 * (the guest sees its carrier come back and asks DHCP again). */
int lvirt_dom_move(virDomainPtr d, const char *mac, const char *network, char *err, size_t errlen);

/* Destroys (if running) and undefines domain name; absent: 0. */
int lvirt_dom_remove(virConnectPtr c, const char *name, char *err, size_t errlen);

/* The names of the domains whose name starts with prefix, into names
 * (up to max); *n = how many.  0 or negative errno. */
int lvirt_dom_list(virConnectPtr c, const char *prefix, char (*names)[LVIRT_NAME_LEN], size_t max,
                   size_t *n, char *err, size_t errlen);

/* True when /dev/kvm exists and libvirt reports the kvm domain type. */
bool lvirt_host_has_kvm(virConnectPtr c);

#endif
