/* aws_r53 — Route 53 calls of the aws provider; see aws_r53.h. */
#include "provider/aws/aws_r53.h"

#include "provider/aws/aws.h"
#include "provider/aws/aws_xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define R53_API "/2013-04-01"
#define R53_NS "https://route53.amazonaws.com/doc/2013-04-01/"
#define R53_BODY_MAX 8192

/* XML-escapes s into out (always terminated); -ENOSPC if it did not fit. */
static int xml_escape(const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    for (; *s; s++) {
        const char *rep = *s == '&'    ? "&amp;"
                          : *s == '<'  ? "&lt;"
                          : *s == '>'  ? "&gt;"
                          : *s == '"'  ? "&quot;"
                          : *s == '\'' ? "&apos;"
                                       : NULL;
        size_t n = rep ? strlen(rep) : 1;
        if (o + n + 1 > outlen) {
            out[o] = '\0';
            return -ENOSPC;
        }
        memcpy(out + o, rep ? rep : s, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}

/* Zone ids are [A-Z0-9]: anything else would change the request path. */
static int check_zone(const char *zone_id, char *err, size_t errlen)
{
    size_t n = zone_id ? strlen(zone_id) : 0;
    if (n == 0 || n >= AWS_R53_ID_LEN ||
        strspn(zone_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != n) {
        snprintf(err, errlen, "Route 53: bad hosted zone id");
        return -EINVAL;
    }
    return 0;
}

static int r53_fail(const char *action, int rc, char *err, size_t errlen)
{
    char tmp[AWS_ERR_MAX];
    snprintf(tmp, sizeof(tmp), "%s", err);
    snprintf(err, errlen, "Route 53 %s: %s", action, tmp);
    return rc;
}

int aws_r53_create_hosted_zone(struct aws_client *c, const char *name, const char *caller_reference,
                               char zone_id[AWS_R53_ID_LEN], char *err, size_t errlen)
{
    char ename[AWS_R53_MAX_NAME * 6], eref[512], body[R53_BODY_MAX];
    if (xml_escape(name, ename, sizeof(ename)) < 0 ||
        xml_escape(caller_reference, eref, sizeof(eref)) < 0) {
        snprintf(err, errlen, "Route 53 CreateHostedZone: name or reference too long");
        return -EINVAL;
    }
    int n = snprintf(body, sizeof(body),
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                     "<CreateHostedZoneRequest xmlns=\"" R53_NS "\"><Name>%s</Name>"
                     "<CallerReference>%s</CallerReference></CreateHostedZoneRequest>",
                     ename, eref);
    struct wm_http_response r;
    int rc = aws_client_call(c, "POST", R53_API "/hostedzone", NULL, "application/xml", body,
                             (size_t)n, &r, err, errlen);
    if (rc < 0)
        return r53_fail("CreateHostedZone", rc, err, errlen);
    char id[AWS_R53_ID_LEN + 16] = "";
    struct aws_xml hz;
    rc = aws_xml_find(aws_xml_span(r.body, r.body_len), "HostedZone", &hz) ? 0 : -EPROTO;
    if (rc == 0)
        rc = aws_xml_text(hz, "Id", id, sizeof(id));
    wm_http_response_free(&r);
    const char *bare = strncmp(id, "/hostedzone/", 12) == 0 ? id + 12 : id;
    if (rc < 0 || check_zone(bare, err, errlen) < 0) {
        snprintf(err, errlen, "Route 53 CreateHostedZone: answer has no usable zone id");
        return -EPROTO;
    }
    snprintf(zone_id, AWS_R53_ID_LEN, "%.*s", AWS_R53_ID_LEN - 1, bare);
    return 0;
}

static int r53_change(struct aws_client *c, const char *action, const char *zone_id,
                      const char *name, const char *type, long ttl, const char *value, char *err,
                      size_t errlen)
{
    char ename[AWS_R53_MAX_NAME * 6], etype[64], evalue[AWS_R53_MAX_VALUE * 6];
    char body[R53_BODY_MAX], path[128];
    int rc = check_zone(zone_id, err, errlen);
    if (rc < 0)
        return rc;
    if (xml_escape(name, ename, sizeof(ename)) < 0 || xml_escape(type, etype, sizeof(etype)) < 0 ||
        xml_escape(value, evalue, sizeof(evalue)) < 0 || ttl < 0) {
        snprintf(err, errlen, "Route 53 ChangeResourceRecordSets: record too long");
        return -EINVAL;
    }
    int n = snprintf(body, sizeof(body),
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                     "<ChangeResourceRecordSetsRequest xmlns=\"" R53_NS "\"><ChangeBatch>"
                     "<Comment>wavemill</Comment><Changes><Change><Action>%s</Action>"
                     "<ResourceRecordSet><Name>%s</Name><Type>%s</Type><TTL>%ld</TTL>"
                     "<ResourceRecords><ResourceRecord><Value>%s</Value></ResourceRecord>"
                     "</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>"
                     "</ChangeResourceRecordSetsRequest>",
                     action, ename, etype, ttl, evalue);
    if (n < 0 || (size_t)n >= sizeof(body)) {
        snprintf(err, errlen, "Route 53 ChangeResourceRecordSets: request too large");
        return -EINVAL;
    }
    snprintf(path, sizeof(path), R53_API "/hostedzone/%s/rrset", zone_id);
    struct wm_http_response r;
    rc =
        aws_client_call(c, "POST", path, NULL, "application/xml", body, (size_t)n, &r, err, errlen);
    if (rc < 0)
        return r53_fail("ChangeResourceRecordSets", rc, err, errlen);
    wm_http_response_free(&r);
    return 0;
}

int aws_r53_upsert(struct aws_client *c, const char *zone_id, const char *name, const char *type,
                   long ttl, const char *value, char *err, size_t errlen)
{
    return r53_change(c, "UPSERT", zone_id, name, type, ttl, value, err, errlen);
}

int aws_r53_delete(struct aws_client *c, const char *zone_id, const char *name, const char *type,
                   long ttl, const char *value, char *err, size_t errlen)
{
    return r53_change(c, "DELETE", zone_id, name, type, ttl, value, err, errlen);
}

static void parse_record(struct aws_xml rr, struct aws_r53_record *out)
{
    char ttl[32] = "";
    memset(out, 0, sizeof(*out));
    const char *cur = rr.p;
    struct aws_xml el, recs, rec;
    if (aws_xml_next(rr, &cur, "Name", &el))
        aws_xml_span_text(el, out->name, sizeof(out->name));
    cur = rr.p;
    if (aws_xml_next(rr, &cur, "Type", &el))
        aws_xml_span_text(el, out->type, sizeof(out->type));
    cur = rr.p;
    if (aws_xml_next(rr, &cur, "TTL", &el))
        aws_xml_span_text(el, ttl, sizeof(ttl));
    out->ttl = atol(ttl);
    cur = rr.p;
    if (!aws_xml_next(rr, &cur, "ResourceRecords", &recs))
        return;
    const char *c2 = recs.p;
    while (aws_xml_next(recs, &c2, "ResourceRecord", &rec)) {
        if (out->nvalues++ == 0)
            aws_xml_text(rec, "Value", out->value, sizeof(out->value));
    }
}

int aws_r53_list_records(struct aws_client *c, const char *zone_id, struct aws_r53_record *out,
                         size_t max, size_t *n, char *err, size_t errlen)
{
    char path[128];
    *n = 0;
    int rc = check_zone(zone_id, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), R53_API "/hostedzone/%s/rrset", zone_id);
    struct wm_http_response r;
    rc = aws_client_call(c, "GET", path, NULL, NULL, NULL, 0, &r, err, errlen);
    if (rc < 0)
        return r53_fail("ListResourceRecordSets", rc, err, errlen);
    struct aws_xml sets, rr;
    if (aws_xml_find(aws_xml_span(r.body, r.body_len), "ResourceRecordSets", &sets)) {
        const char *cur = sets.p;
        while (aws_xml_next(sets, &cur, "ResourceRecordSet", &rr)) {
            if (*n < max)
                parse_record(rr, &out[*n]);
            (*n)++;
        }
    }
    wm_http_response_free(&r);
    return 0;
}
