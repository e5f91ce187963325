/* aws_r53 — the Route 53 REST API calls of the aws provider (API version
 * 2013-04-01, XML bodies) over an aws_client made for service "route53"
 * (signing region us-east-1 on AWS: Route 53 is global).  Errors as in
 * aws.h: 0 or negative errno with AWS's code and message in err. */
#ifndef WM_AWS_R53_H
#define WM_AWS_R53_H

#include <stddef.h>

struct aws_client;

#define AWS_R53_ID_LEN 64
#define AWS_R53_MAX_NAME 256
#define AWS_R53_MAX_VALUE 512

/* Creates a public hosted zone for name ("example.test."); zone_id gets the
 * bare id ("Z123…", without "/hostedzone/").  caller_reference makes a
 * retried create safe (AWS refuses a second zone with the same reference). */
int aws_r53_create_hosted_zone(struct aws_client *c, const char *name, const char *caller_reference,
                               char zone_id[AWS_R53_ID_LEN], char *err, size_t errlen);

/* UPSERT of one record: name ("app.example.test."), type ("A", "CNAME"),
 * ttl seconds, one value.  Running it twice leaves one record, the latest value. */
int aws_r53_upsert(struct aws_client *c, const char *zone_id, const char *name, const char *type,
                   long ttl, const char *value, char *err, size_t errlen);

/* DELETE of one record; Route 53 wants its exact TTL and value (from
 * aws_r53_list_records). */
int aws_r53_delete(struct aws_client *c, const char *zone_id, const char *name, const char *type,
                   long ttl, const char *value, char *err, size_t errlen);

struct aws_r53_record {
    char name[AWS_R53_MAX_NAME];
    char type[16];
    long ttl;
    char value[AWS_R53_MAX_VALUE]; /* the first value */
    int nvalues;
};

/* The zone's record sets (first page, at most max into out; *n = how many
 * the page had). */
int aws_r53_list_records(struct aws_client *c, const char *zone_id, struct aws_r53_record *out,
                         size_t max, size_t *n, char *err, size_t errlen);

#endif
