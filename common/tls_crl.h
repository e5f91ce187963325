/* tls_crl — the revoked serials a TLS context refuses (used by tls.c).
 *
 * Reads DIR/crl.pem (written by wm_pki_revoke, pki.h) if it exists, checks
 * its signature against DIR/ca.crt, and keeps the revoked serial numbers.
 * tls_crl_refresh() re-reads the file when it changed (inode, size, mtime),
 * so a running daemon honours a revocation within one handshake of the new
 * file appearing; a file that fails its check is refused and the previous
 * list stays in force.  Thread-safe. */
#ifndef WM_TLS_CRL_H
#define WM_TLS_CRL_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

struct tls_crl;

/* Loads DIR's CRL (none is fine: nothing revoked).  NULL with err when
 * DIR/crl.pem exists but is unreadable or not signed by DIR/ca.crt. */
struct tls_crl *tls_crl_new(const char *dir, char *err, size_t errlen);
void tls_crl_free(struct tls_crl *c);

/* Re-reads the CRL if the file changed.  0, or -errno with err (the old
 * list stays). */
int tls_crl_refresh(struct tls_crl *c, char *err, size_t errlen);

/* true if cert's serial is revoked. */
bool tls_crl_revoked(struct tls_crl *c, X509 *cert);

/* Serials currently revoked (tests, logs). */
size_t tls_crl_count(struct tls_crl *c);

#endif
