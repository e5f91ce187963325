/* provider_libvirt — the "libvirt" target provider (driver.h): test and
 * cutover instances are libvirt domains (KVM, else TCG) booted from copies
 * of the replicas, on the hypervisor at libvirt.uri.  docs/provider-libvirt.md
 * is the operator's page.
 *
 *   check_target    libvirt.uri answers, libvirt.replica_dir is readable,
 *                   the test and live networks exist or are made
 *   launch          the domain of this launch's client token (name
 *                   wm-<server>-<t|c>-<12 hex>, UUID = the token's 32 hex,
 *                   MAC from it): found → started if stopped, never a second
 *                   one; else disk0's replica at its last COMMITTED
 *                   generation is copied (rsnap_copy: reflink or sparse
 *                   copy under the receiver's commit lock; the replica is
 *                   never written, a half-applied delta never seen) to
 *                   libvirt.state_dir/<domain>.disk0.img, and the domain is
 *                   defined and started on the isolated test network (test
 *                   AND cutover instances: post_cutover moves the latter).
 *                   Recorded on the server (driver_instance.h).
 *   check_instance  the guest booted from its own disk: its serial console
 *                   (<domain>.console.log) shows libvirt.boot_line within
 *                   libvirt.boot_timeout, it has a DHCP lease, and (when
 *                   libvirt.probe_url is set) the URL answers 200.  Fails with
 *                   the last console lines.  The address is recorded.
 *   switch_network  the cutover domain's NIC moves to the live network (link
 *                   down, network, link up: the guest asks DHCP again); the
 *                   new address is recorded
 *   terminate       every domain of the server and kind (wm-<server>-t-* or
 *                   -c-*), with its disk copy and console log
 *   cmdb_update     nothing (cmdb.url does the CMDB)
 */
#ifndef WM_PROVIDER_LIBVIRT_H
#define WM_PROVIDER_LIBVIRT_H

#include <stddef.h>

#include "driver.h"

struct wm_config;

/* Declares the libvirt.* keys. */
int provider_libvirt_declare(struct wm_config *cfg, char *err, size_t errlen);

extern const struct provider_driver provider_libvirt_driver;

#endif
