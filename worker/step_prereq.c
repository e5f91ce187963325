/* step_prereq — the prereq_check step over a real transport: the checks of
 * prereq.h in one round trip to the source, the facts it reported stored
 * in the inventory, then the provider's check of the target; see steps.h.
 *
 * What is checked comes from where the later steps will look: the disks
 * and the agent's folder, space and receiver as the replication driver
 * sees them (replication_layout_get), so a source without room for the agent
 * stops here, named, instead of half way through agent_install. */
#include "steps.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "driver.h"
#include "replication/replication.h"
#include "transport/transport_driver.h"
#include "log.h"
#include "pg.h"
#include "prereq/prereq.h"
#include "task.h"

_Static_assert(REPL_LAYOUT_MAX_DISKS <= PREREQ_MAX_DISKS, "every disk of a layout fits a spec");

/* Everything one run of the step needs (kept off the slot thread's stack). */
struct pq_run {
    struct replication_layout l;
    const char *disks[REPL_LAYOUT_MAX_DISKS];
    char rx_host[256];
    char inv_os[32]; /* servers.os_family: "linux", "windows" or "" */
    struct prereq_spec spec;
    struct prereq_facts facts;
};

/* "HOST:PORT" or "[V6]:PORT"; -EINVAL if it is neither. */
static int split_hostport(const char *hp, char *host, size_t cap, int *port)
{
    const char *colon;
    size_t n;
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        n = (size_t)(end - hp - 1);
        hp++;
        colon = end + 1;
    } else {
        if (!(colon = strrchr(hp, ':')))
            return -EINVAL;
        n = (size_t)(colon - hp);
    }
    char *e;
    long p = strtol(colon + 1, &e, 10);
    if (n == 0 || n >= cap || *e || p < 1 || p > 65535)
        return -EINVAL;
    memcpy(host, hp, n);
    host[n] = '\0';
    *port = (int)p;
    return 0;
}

static int read_os_family(struct task_ctx *t, struct wm_pg *db, char *out, size_t cap)
{
    char err[256], sid[24];
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    const char *p[] = {sid};
    PGresult *r =
        wm_pg_query(db, "SELECT os_family FROM servers WHERE id = $1", 1, p, err, sizeof(err));
    int rc = 0;
    if (!r)
        rc = task_fail(t, "prereq: reading server %s: %s", sid, err);
    else if (PQntuples(r) == 1)
        snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* The spec from the layout: disks, agent folder and space, receiver, and
 * the kernel the inventory's OS family implies. */
static int fill_spec(struct task_ctx *t, struct pq_run *r)
{
    struct prereq_spec *sp = &r->spec;
    for (int i = 0; i < r->l.ndisks; i++)
        r->disks[i] = r->l.disks[i].path;
    sp->disks = r->disks;
    sp->ndisks = r->l.ndisks;
    sp->agent_dir = r->l.agent_dir;
    sp->agent_min_free = r->l.agent_space;
    /* the inventory's family as `uname -s` spells it; none: any */
    sp->os_family = strcasecmp(r->inv_os, "linux") == 0     ? "Linux"
                    : strcasecmp(r->inv_os, "windows") == 0 ? "Windows"
                                                            : NULL;
    if (!r->l.receiver[0]) {
        /* the real replicator cannot sync without one: say so now */
        if (!t->replication->simulated)
            return task_fail_permanent(
                t, "prereq receiver_reach: no receiver configured (repl.receiver)");
        return 0;
    }
    if (split_hostport(r->l.receiver, r->rx_host, sizeof(r->rx_host), &sp->receiver_port) < 0)
        return task_fail(t, "prereq receiver_reach: receiver '%s' is not HOST:PORT", r->l.receiver);
    sp->receiver_host = r->rx_host;
    return 0;
}

/* "debian 12" from os-release (ID VERSION_ID), else its PRETTY_NAME. */
static void os_version_text(const struct prereq_facts *f, char *out, size_t cap)
{
    if (f->os_id[0] || f->os_version[0])
        snprintf(out, cap, "%s%s%s", f->os_id, f->os_id[0] && f->os_version[0] ? " " : "",
                 f->os_version);
    else
        snprintf(out, cap, "%s", f->os_pretty);
}

/* The source's facts into the inventory: OS family and version where the
 * inventory has none (an operator's entry wins), each disk's size. */
static int store_facts(struct task_ctx *t, struct wm_pg *db, const struct pq_run *r, char *err,
                       size_t errlen)
{
    char sid[24], fam[32], ver[200];
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    size_t i;
    for (i = 0; r->facts.os_family[i] && i + 1 < sizeof(fam); i++)
        fam[i] = (char)tolower((unsigned char)r->facts.os_family[i]);
    fam[i] = '\0';
    os_version_text(&r->facts, ver, sizeof(ver));
    const char *p[] = {sid, fam, ver};
    int rc = wm_pg_exec(db,
                        "UPDATE servers SET os_family = CASE WHEN os_family = '' THEN $2"
                        " ELSE os_family END, os_version = CASE WHEN os_version = '' THEN $3"
                        " ELSE os_version END, updated_at = now() WHERE id = $1 AND"
                        " ((os_family = '' AND $2 <> '') OR (os_version = '' AND $3 <> ''))",
                        3, p, NULL, err, errlen);
    for (int d = 0; rc == 0 && d < r->l.ndisks; d++) {
        char size[24];
        if (r->facts.disk_size[d] == 0)
            continue;
        snprintf(size, sizeof(size), "%llu", (unsigned long long)r->facts.disk_size[d]);
        const char *q[] = {r->l.disks[d].id, size};
        rc = wm_pg_exec(db, "UPDATE disks SET size_bytes = $2 WHERE id = $1 AND size_bytes <> $2",
                        2, q, NULL, err, errlen);
    }
    return rc;
}

/* One round trip to the source; the facts stored even when a check failed
 * (they are what the operator needs to fix it). */
static int check_source(struct task_ctx *t, struct wm_pg *db, struct pq_run *r)
{
    struct tp_session s;
    char err[sizeof(t->error)], dberr[256];
    int rc = transport_driver_open(t, &s);
    if (rc == 0) {
        rc = prereq_check(s.tp, &r->spec, &r->facts, err, sizeof(err));
        if (rc < 0)
            task_fail(t, "%s", err);
    }
    transport_driver_close(&s);
    if ((rc == 0 || rc == -EPERM) && store_facts(t, db, r, dberr, sizeof(dberr)) < 0) {
        if (rc == 0) /* else the failed checks are the news */
            rc = task_fail(t, "prereq: storing the source's facts: %s", dberr);
        else
            wm_warn("prereq.facts_not_stored", "server=%s err=\"%s\"", t->msg.server, dberr);
    }
    if (rc == 0)
        wm_info("prereq.passed", "server=%s os=\"%s %s\" disks=%d agent_free=%llu receiver=%s",
                t->msg.server, r->facts.os_family, r->facts.os_pretty, r->l.ndisks,
                (unsigned long long)r->facts.agent_free, r->l.receiver[0] ? r->l.receiver : "-");
    else
        wm_warn("prereq.failed", "server=%s err=\"%s\"", t->msg.server, t->error);
    return rc;
}

int step_prereq(struct task_ctx *t)
{
    struct pq_run *r = calloc(1, sizeof(*r));
    if (!r)
        return task_fail(t, "prereq: out of memory");
    struct wm_pg *db = task_db(t); /* the task's one connection */
    int rc = db ? 0 : -EIO;
    rc = rc < 0 ? rc : replication_layout_get(t, &r->l);
    rc = rc < 0 ? rc : read_os_family(t, db, r->inv_os, sizeof(r->inv_os));
    rc = rc < 0 ? rc : fill_spec(t, r);
    rc = rc < 0 ? rc : check_source(t, db, r);
    free(r);
    return rc < 0 ? rc : t->provider->check_target(t);
}
