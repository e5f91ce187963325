/* steps — the validate and cmdb_update pipeline steps beyond a provider
 * call (handlers.c calls these).
 *
 * step_validate: the provider's check of the cutover instance, then the
 * server's validation probes (probe.h), JSON from the task param "probes"
 * or servers.settings->>'probes', with {address} = the cutover instance's
 * recorded address (servers.instance_address; the fqdn param when none);
 * ssh probes run over the task's transport.  The report is stored in
 * servers.validation; failed probes fail the task, named.  A simulated
 * server has no probes.
 *
 * step_cmdb: with cmdb.url configured, the CMDB REST call (cmdb.h) with the
 * secret named by cmdb.secret from the credential store; without it, the
 * provider's cmdb_update.
 *
 * step_prereq: over a real transport, the prerequisite checks of prereq.h
 * on the server's disks, the replication driver's agent folder and space
 * and its receiver (replication_layout_get), with the source's OS facts and
 * disk sizes stored in the inventory; every failed check named in the
 * task error.  Then the provider's check of the target. */
#ifndef WM_STEPS_H
#define WM_STEPS_H

struct task_ctx;

#define STEP_PROBES_MAX_JSON 16384

int step_validate(struct task_ctx *t);
int step_cmdb(struct task_ctx *t);
int step_prereq(struct task_ctx *t);

#endif
