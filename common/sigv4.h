/* sigv4 — AWS Signature Version 4 (HMAC-SHA256 request signing).
 *
 * The four steps of the published algorithm, each callable on its own so
 * tests can compare every intermediate with AWS's worked examples:
 *
 *   1. canonical request: METHOD \n URI \n QUERY \n HEADERS \n SIGNED \n SHA256(body)
 *   2. string to sign:    AWS4-HMAC-SHA256 \n DATE \n SCOPE \n SHA256(canonical request)
 *   3. signing key:       HMAC chain "AWS4"+secret → date → region → service → "aws4_request"
 *   4. signature:         hex HMAC(signing key, string to sign) → Authorization header
 *
 * Inputs are borrowed; outputs go into caller buffers (always NUL-terminated)
 * and every function returns 0 or -ENOSPC when an output buffer is too small
 * (-EINVAL for malformed input).  No secret is ever written to an output
 * other than the derived key itself. */
#ifndef WM_SIGV4_H
#define WM_SIGV4_H

#include <stddef.h>
#include <time.h>

#define WM_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define WM_SIGV4_DATE_LEN 16 /* "20150830T123600Z" */
#define WM_SIGV4_HEX_LEN 64  /* SHA-256 in hex */
#define WM_SIGV4_MAX_HEADERS 32

struct wm_sigv4_header {
    const char *name;  /* any case; signed lower-cased */
    const char *value; /* trimmed, inner runs of spaces collapsed when signed */
};

struct wm_sigv4_request {
    const char *method; /* "GET", "POST" */
    const char *path;   /* path as sent on the wire ("/", "/2013-04-01/hostedzone/Z/rrset");
                           each segment is URI-encoded for the canonical form */
    const char *query;  /* query string without '?' (NULL or "" for none) */
    const struct wm_sigv4_header *headers; /* all of them are signed; must include host */
    size_t nheaders;                       /* at most WM_SIGV4_MAX_HEADERS */
    const void *body;                      /* NULL = empty */
    size_t body_len;
};

struct wm_sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
};

struct wm_sigv4_scope {
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ", also sent as X-Amz-Date */
    const char *region;   /* "us-east-1" */
    const char *service;  /* "ec2", "route53", "iam" */
};

/* --- the steps --- */

/* Step 1.  signed_headers (may be NULL) gets "host;x-amz-date". */
int wm_sigv4_canonical_request(const struct wm_sigv4_request *req, char *out, size_t outlen,
                               char *signed_headers, size_t shlen);

/* Step 2. */
int wm_sigv4_string_to_sign(const struct wm_sigv4_scope *scope, const char *canonical_request,
                            char *out, size_t outlen);

/* Step 3: the 32-byte derived key. */
int wm_sigv4_signing_key(const char *secret_access_key, const struct wm_sigv4_scope *scope,
                         unsigned char key[32]);

/* Step 4: hex signature of string_to_sign under key (out: 65 bytes). */
void wm_sigv4_signature(const unsigned char key[32], const char *string_to_sign,
                        char out[WM_SIGV4_HEX_LEN + 1]);

/* All four: the value of the Authorization header
 * ("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request,
 *  SignedHeaders=…, Signature=…"). */
int wm_sigv4_authorization(const struct wm_sigv4_credentials *cred,
                           const struct wm_sigv4_scope *scope, const struct wm_sigv4_request *req,
                           char *out, size_t outlen);

/* --- helpers --- */

/* t as "YYYYMMDDTHHMMSSZ" (UTC). */
void wm_sigv4_amz_date(time_t t, char out[WM_SIGV4_DATE_LEN + 1]);

/* Lower-case hex SHA-256 of data. */
void wm_sigv4_sha256_hex(const void *data, size_t len, char out[WM_SIGV4_HEX_LEN + 1]);

/* RFC 3986 encoding as SigV4 wants it: A-Z a-z 0-9 - . _ ~ kept, every other
 * byte %XX (upper case); '/' kept when keep_slash.  Also for form bodies. */
int wm_sigv4_uri_encode(const char *in, size_t inlen, int keep_slash, char *out, size_t outlen);

#endif
