/* probe — validation probes against a launched instance: a TCP port that
 * accepts connections, an HTTP URL answering an expected status, a command
 * run over the source/target transport (ssh).  The validate step evaluates a
 * configured list of them and stores the JSON summary per server.
 *
 * Each probe is bounded by its own timeout and never throws: it fills a
 * probe_result (ok + a one-line detail, redacted of secrets).  A list runs
 * every probe, even after a failure, so the stored summary shows the whole
 * picture.
 *
 * The list configuration is JSON (task parameter "probes"), an array of
 *   {"type":"tcp",  "port":22, "host":"{address}", "timeout_ms":3000, "name":"ssh-port"}
 *   {"type":"http", "url":"http://{address}:8080/health",
 *                   "status":200 | "200-299" | "2xx" | [200,399],   (default 2xx)
 *                   "follow_redirects":false, "insecure":false, "contains":"ok"}
 *   {"type":"ssh",  "command":"systemctl is-active app", "expect_exit":0,
 *                   "contains":"active"}
 * "{address}" in host, url, command and contains is replaced by the instance's
 * address; "host" defaults to "{address}"; "timeout_ms" defaults to 5000
 * and is capped at 120000; "name" defaults to "type:target". */
#ifndef WM_PROBE_H
#define WM_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct transport;

#define PROBE_DEFAULT_TIMEOUT_MS 5000
#define PROBE_MAX_TIMEOUT_MS 120000
#define PROBE_MAX_PROBES 64

enum probe_kind { PROBE_TCP, PROBE_HTTP, PROBE_SSH };

struct probe_result {
    char name[96];
    enum probe_kind kind;
    bool ok;
    char detail[256]; /* one line, redacted: "HTTP 200 in 3 ms", "connection refused" */
    int64_t elapsed_ms;
};

/* --- single probes (name is set by the caller or the list) --- */

/* ok when host:port accepts a TCP connection within timeout_ms. */
void probe_tcp(const char *host, int port, int timeout_ms, struct probe_result *r);

struct probe_http_opts {
    long status_min, status_max; /* accepted range; 0,0 = 200..299 */
    bool follow_redirects;       /* off: a 3xx is judged as itself */
    bool insecure;               /* skip TLS verification (self-signed test instances) */
    const char *contains;        /* body must contain this (first 64 KiB), or NULL */
};

/* GET url; ok when the status is in range (and the body matches). */
void probe_http(const char *url, const struct probe_http_opts *o, int timeout_ms,
                struct probe_result *r);

/* Runs cmd through tp (transport.h); ok when it exits expect_exit (and its
 * stdout contains `contains`, if given).  tp NULL fails the probe. */
void probe_ssh(struct transport *tp, const char *cmd, int expect_exit, const char *contains,
               int timeout_ms, struct probe_result *r);

/* --- lists --- */

struct probe_list;

/* Parses the JSON configuration above, substituting address for
 * "{address}".  NULL with the reason in err. */
struct probe_list *probe_list_parse(const char *json, const char *address, char *err,
                                    size_t errlen);
size_t probe_list_count(const struct probe_list *l);
void probe_list_free(struct probe_list *l);

struct probe_report {
    bool ok;                      /* every probe ok (and at least one ran) */
    size_t n;
    struct probe_result *results; /* n of them, in configuration order */
    char *json;                   /* {"ok":…,"probes":[{"name","type","ok","detail","elapsed_ms"}]} */
};

/* Runs every probe in order (tp for ssh probes, may be NULL).  0 with rep
 * filled (rep->ok is the verdict), or -ENOMEM. */
int probe_list_run(const struct probe_list *l, struct transport *tp, struct probe_report *rep);
void probe_report_free(struct probe_report *rep);

#endif
