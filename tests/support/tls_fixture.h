/* tls_fixture — throwaway PKIs for tests: a temp dir with a CA and
 * identities issued by common/pki, removed afterwards. */
#ifndef TLS_FIXTURE_H
#define TLS_FIXTURE_H

#include <stddef.h>

/* mkdtemp under $TMPDIR (or /tmp) + wm_pki_init; root gets the path.
 * 0 or -errno. */
int tls_fixture_new(char *root, size_t rootlen);
/* wm_pki_issue of root/name with role; days 0 = default; backdate_s > 0
 * with a small days makes an expired certificate.  0 or -errno. */
int tls_fixture_issue(const char *root, const char *name, const char *role, int days,
                      long backdate_s);
/* Copies root_from/ca.crt over dir/ca.crt (an identity that trusts another
 * CA than the one that issued it).  0 or -errno. */
int tls_fixture_trust(const char *dir, const char *root_from);
/* rm -rf root.  NULL or "" is a no-op. */
void tls_fixture_free(const char *root);

#endif
