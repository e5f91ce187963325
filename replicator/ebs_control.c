/* ebs_control — the EBS export as a receiver control job; see ebs_control.h. */
#include "ebs_control.h"

#include "awscred.h"
#include "ebs_export.h"
#include "json.h"
#include "jsonr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct ctl {
    struct ebs_export_opts o;
    struct ebs_api_cfg cfg;
    ebs_control_progress_fn progress;
    void *ud;
};

static const char *opt_str(const struct wm_jsonr_val *root, const char *key)
{
    return wm_jsonr_str(wm_jsonr_get(root, key));
}

static int64_t opt_int(const struct wm_jsonr_val *root, const char *key, int64_t dflt)
{
    int64_t v;
    return wm_jsonr_int(wm_jsonr_get(root, key), &v) ? v : dflt;
}

/* Options from the request's JSON (strings borrowed from d). */
static int parse_opts(const struct wm_jsonr *d, struct ctl *c, char *err, size_t errlen)
{
    const struct wm_jsonr_val *r = wm_jsonr_root(d);
    if (wm_jsonr_type(r) != WM_JSONR_OBJECT) {
        snprintf(err, errlen, "export options must be a JSON object");
        return -EINVAL;
    }
    c->cfg.endpoint = opt_str(r, "endpoint");
    c->cfg.ec2_endpoint = opt_str(r, "ec2_endpoint");
    c->cfg.region = opt_str(r, "region");
    c->cfg.backoff.max_attempts = (int)opt_int(r, "attempts", 0);
    c->cfg.backoff.base_ms = opt_int(r, "backoff_base_ms", 200);
    c->cfg.backoff.cap_ms = opt_int(r, "backoff_cap_ms", 20000);
    int64_t gen = opt_int(r, "generation", 0), inflight = opt_int(r, "inflight", 0);
    if (gen < 0 || inflight < 0 || inflight > EBS_UPLOAD_MAX_INFLIGHT ||
        c->cfg.backoff.max_attempts < 0 || c->cfg.backoff.max_attempts > WM_HTTP_MAX_ATTEMPTS) {
        snprintf(err, errlen,
                 "export options: generation, inflight (0..%d) or attempts out of range",
                 EBS_UPLOAD_MAX_INFLIGHT);
        return -EINVAL;
    }
    c->o.generation = (uint64_t)gen;
    c->o.inflight = (int)inflight;
    c->o.description = opt_str(r, "description");
    bool new_chain = false;
    wm_jsonr_bool(wm_jsonr_get(r, "new_chain"), &new_chain);
    c->o.force_root = new_chain;
    const struct wm_jsonr_val *tags = wm_jsonr_get(r, "tags");
    for (size_t i = 0; i < wm_jsonr_len(tags); i++) {
        const char *k = wm_jsonr_key_at(tags, i), *v = wm_jsonr_str(wm_jsonr_at(tags, i));
        if (!k || !v || c->o.ntags >= EBS_MAX_TAGS - 2) {
            snprintf(err, errlen, "export options: tags must be at most %d string values",
                     EBS_MAX_TAGS - 2);
            return -EINVAL;
        }
        c->o.tag_keys[c->o.ntags] = k;
        c->o.tag_values[c->o.ntags++] = v;
    }
    return 0;
}

static void on_progress(const struct ebs_export_progress *p, void *ud)
{
    const struct ctl *c = ud;
    uint64_t rate = p->up.seconds > 0 ? (uint64_t)((double)p->up.bytes / p->up.seconds) : 0;
    uint64_t total = p->planned * EBS_BLOCK_SIZE,
             done = (p->resumed + p->up.blocks) * (uint64_t)EBS_BLOCK_SIZE;
    struct proto_progress pp = {.scanned = done,
                                .sent = p->up.bytes,
                                .wire = p->up.bytes,
                                .total = total,
                                .rate = rate,
                                .eta_s = rate && total > done ? (total - done) / rate : 0,
                                .gen = p->gen};
    c->progress(&pp, 0, c->ud);
}

static void result_text(const struct ebs_export_result *r, char *out, size_t outlen)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kstr(j, "snapshot", r->snapshot);
    wm_json_kstr(j, "parent", r->parent);
    wm_json_kint(j, "parent_generation", (int64_t)r->parent_gen);
    wm_json_kint(j, "changed_blocks", (int64_t)r->changed_blocks);
    wm_json_kint(j, "blocks_put", (int64_t)r->up.blocks);
    wm_json_kint(j, "bytes_put", (int64_t)r->up.bytes);
    wm_json_kint(j, "resumed_blocks", (int64_t)r->resumed_blocks);
    wm_json_kint(j, "retries", (int64_t)r->up.retries);
    wm_json_kint(j, "seconds", (int64_t)(r->up.seconds + 0.5));
    wm_json_kint(j, "volume_size", (int64_t)r->volume_size);
    wm_json_kbool(j, "already", r->already);
    wm_json_obj_end(j);
    snprintf(out, outlen, "%s", wm_json_error(j) ? "{}" : wm_json_text(j));
    wm_json_free(j);
}

void ebs_control_execute(const struct proto_ctl_req *req, const char *root,
                         ebs_control_progress_fn progress, void *ud, int progress_ms,
                         struct proto_ctl_result *res)
{
    struct ctl c = {.progress = progress, .ud = ud};
    char err[PROTO_TEXT_MAX];
    struct wm_jsonr *d = wm_jsonr_parse(req->disk, strlen(req->disk), NULL, NULL, err, sizeof(err));
    int rc = d ? parse_opts(d, &c, err, sizeof(err)) : -EINVAL;
    c.o.root = root;
    c.o.volume = req->volume;
    c.o.progress = on_progress;
    c.o.ud = &c;
    c.o.progress_ms = progress_ms;
    struct wm_awscred cred;
    struct ebs_api api;
    struct ebs_export_result r = {0};
    if (rc == 0)
        rc = wm_awscred_resolve(&cred, err, sizeof(err));
    if (rc == 0) {
        rc = ebs_api_init(&api, &c.cfg, &cred, err, sizeof(err));
        wm_awscred_clear(&cred);
    }
    if (rc == 0) {
        rc = ebs_export_run(&api, &c.o, &r, err, sizeof(err));
        ebs_api_clear(&api);
    }
    wm_jsonr_free(d);
    res->rc = rc;
    res->gen = r.gen;
    if (rc < 0) {
        snprintf(res->text, sizeof(res->text), "%s", err);
        return;
    }
    res->prog = (struct proto_progress){.scanned = r.changed_blocks * EBS_BLOCK_SIZE,
                                        .sent = r.up.bytes,
                                        .wire = r.up.bytes,
                                        .total = r.changed_blocks * EBS_BLOCK_SIZE,
                                        .gen = r.gen};
    result_text(&r, res->text, sizeof(res->text));
}
