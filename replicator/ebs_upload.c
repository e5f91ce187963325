/* ebs_upload — parallel PutSnapshotBlock over a curl multi handle; see ebs_upload.h. */
#include "ebs_upload.h"

#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESP_MAX 2048

enum slot_state { SLOT_IDLE, SLOT_ACTIVE, SLOT_WAITING };

struct slot {
    CURL *h;
    uint8_t *buf;
    uint64_t idx;
    uint8_t sha[32];
    int attempt;
    int64_t retry_at;
    enum slot_state st;
    struct ebs_signed sig;
    struct curl_slist *hdrs;
    char resp[RESP_MAX + 1];
    size_t rlen;
};

struct run {
    const struct ebs_api *a;
    const char *snap;
    const struct ebs_upload_src *src;
    CURLM *m;
    struct slot *slots;
    int n;
    bool exhausted, failed;
    struct ebs_upload_stats *st;
    char *err;
    size_t errlen;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct slot *s = arg;
    size_t n = size * nmemb, room = RESP_MAX - s->rlen;
    memcpy(s->resp + s->rlen, data, n < room ? n : room); /* the head is enough for errors */
    s->rlen += n < room ? n : room;
    s->resp[s->rlen] = '\0';
    return n;
}

static void slot_reset_request(struct slot *s)
{
    ebs_signed_free(&s->sig);
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    s->rlen = 0;
    s->resp[0] = '\0';
}

/* Signs (again: a retry gets a fresh date) and adds the slot's request. */
static int slot_send(struct run *r, struct slot *s)
{
    char url[512];
    slot_reset_request(s);
    int rc = ebs_api_block_headers(r->a, r->snap, s->idx, s->buf, s->sha, &s->sig, url, sizeof(url),
                                   r->err, r->errlen);
    if (rc < 0)
        return rc;
    s->hdrs = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; s->hdrs && i < s->sig.n; i++)
        s->hdrs = curl_slist_append(s->hdrs, s->sig.lines[i]);
    if (!s->hdrs) {
        snprintf(r->err, r->errlen, "out of memory");
        return -ENOMEM;
    }
    curl_easy_setopt(s->h, CURLOPT_URL, url);
    curl_easy_setopt(s->h, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->buf);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)EBS_BLOCK_SIZE);
    curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, r->a->timeout_ms);
    curl_easy_setopt(s->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->h, CURLOPT_PRIVATE, s);
    if (curl_multi_add_handle(r->m, s->h) != CURLM_OK) {
        snprintf(r->err, r->errlen, "curl_multi_add_handle failed");
        return -EIO;
    }
    s->st = SLOT_ACTIVE;
    return 0;
}

/* Gives an idle slot its next block: read, digest, send. */
static int slot_start(struct run *r, struct slot *s)
{
    uint64_t idx;
    if (r->src->next(r->src->arg, &idx) != 0) {
        r->exhausted = true;
        return 0;
    }
    int rc = r->src->read(r->src->arg, idx, s->buf, r->err, r->errlen);
    if (rc < 0)
        return rc;
    s->idx = idx;
    s->attempt = 0;
    SHA256(s->buf, EBS_BLOCK_SIZE, s->sha);
    return slot_send(r, s);
}

static void fail(struct run *r, int rc)
{
    (void)rc;
    r->failed = true;
}

/* A request ended: accepted, scheduled for a resend, or the run fails. */
static int slot_finished(struct run *r, struct slot *s, CURLcode cc)
{
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(r->m, s->h);
    s->st = SLOT_IDLE;
    if (cc == CURLE_OK && status >= 200 && status <= 299) {
        r->st->blocks++;
        r->st->bytes += EBS_BLOCK_SIZE;
        return r->src->done(r->src->arg, s->idx, s->sha, r->err, r->errlen);
    }
    bool retry = cc != CURLE_OK ? true : ebs_api_retryable(status, s->resp, s->rlen);
    if (retry && s->attempt + 1 < r->a->backoff.max_attempts) {
        long d = wm_http_backoff_delay(&r->a->backoff, s->attempt, NULL);
        s->attempt++;
        s->retry_at = now_ms() + d;
        s->st = SLOT_WAITING;
        r->st->retries++;
        return 0;
    }
    char why[800];
    int rc;
    if (cc != CURLE_OK) {
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(cc));
        rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
    } else {
        rc = ebs_api_error(status, s->resp, s->rlen, why, sizeof(why));
    }
    snprintf(r->err, r->errlen, "PutSnapshotBlock %s block %" PRIu64 ": %s%s", r->snap, s->idx, why,
             retry ? " (still failing after retries)" : "");
    return rc;
}

/* Starts what can start: new blocks on idle slots, resends that are due. */
static int fill(struct run *r)
{
    int64_t t = now_ms();
    for (int i = 0; i < r->n; i++) {
        struct slot *s = &r->slots[i];
        int rc = 0;
        if (s->st == SLOT_WAITING && t >= s->retry_at && !r->failed)
            rc = slot_send(r, s);
        else if (s->st == SLOT_IDLE && !r->exhausted && !r->failed)
            rc = slot_start(r, s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool busy(const struct run *r)
{
    for (int i = 0; i < r->n; i++)
        if (r->slots[i].st == SLOT_ACTIVE || (r->slots[i].st == SLOT_WAITING && !r->failed))
            return true;
    return false;
}

static int reap(struct run *r)
{
    int left, first = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(r->m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct slot *s = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        int rc = slot_finished(r, s, msg->data.result);
        if (rc < 0 && !first) {
            first = rc;
            fail(r, rc);
        }
    }
    return first;
}

static int loop(struct run *r, ebs_upload_progress_fn progress, void *ud, int progress_ms)
{
    int64_t t0 = now_ms(), last = t0;
    int rc = 0;
    for (;;) {
        int frc = r->failed ? 0 : fill(r);
        if (frc < 0 && rc == 0) {
            rc = frc;
            fail(r, rc);
        }
        if (!busy(r) && (r->exhausted || r->failed))
            break;
        int running;
        curl_multi_perform(r->m, &running);
        int rrc = reap(r);
        if (rrc < 0 && rc == 0)
            rc = rrc;
        curl_multi_poll(r->m, NULL, 0, 20, NULL);
        int64_t t = now_ms();
        r->st->seconds = (double)(t - t0) / 1000.0;
        if (progress && t - last >= progress_ms) {
            progress(r->st, ud);
            last = t;
        }
    }
    r->st->seconds = (double)(now_ms() - t0) / 1000.0;
    if (progress)
        progress(r->st, ud);
    return rc;
}

static void slots_free(struct run *r)
{
    for (int i = 0; r->slots && i < r->n; i++) {
        struct slot *s = &r->slots[i];
        if (s->st == SLOT_ACTIVE)
            curl_multi_remove_handle(r->m, s->h);
        slot_reset_request(s);
        if (s->h)
            curl_easy_cleanup(s->h);
        free(s->buf);
    }
    free(r->slots);
    if (r->m)
        curl_multi_cleanup(r->m);
}

int ebs_upload_run(const struct ebs_api *a, const char *snapshot_id, int inflight,
                   const struct ebs_upload_src *src, ebs_upload_progress_fn progress, void *ud,
                   int progress_ms, struct ebs_upload_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    if (inflight < 1 || inflight > EBS_UPLOAD_MAX_INFLIGHT) {
        snprintf(err, errlen, "requests in flight must be 1..%d", EBS_UPLOAD_MAX_INFLIGHT);
        return -EINVAL;
    }
    if (wm_http_global_init() < 0) {
        snprintf(err, errlen, "libcurl initialisation failed");
        return -EIO;
    }
    struct run r = {.a = a,
                    .snap = snapshot_id,
                    .src = src,
                    .n = inflight,
                    .st = st,
                    .err = err,
                    .errlen = errlen};
    r.m = curl_multi_init();
    r.slots = calloc((size_t)inflight, sizeof(*r.slots));
    int rc = r.m && r.slots ? 0 : -ENOMEM;
    for (int i = 0; rc == 0 && i < inflight; i++) {
        r.slots[i].h = curl_easy_init();
        r.slots[i].buf = malloc(EBS_BLOCK_SIZE);
        if (!r.slots[i].h || !r.slots[i].buf)
            rc = -ENOMEM;
    }
    if (rc < 0) {
        snprintf(err, errlen, "out of memory");
    } else {
        curl_multi_setopt(r.m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)inflight);
        curl_multi_setopt(r.m, CURLMOPT_MAXCONNECTS, (long)inflight);
        rc = loop(&r, progress, ud, progress_ms > 0 ? progress_ms : 1000);
    }
    slots_free(&r);
    return rc;
}
