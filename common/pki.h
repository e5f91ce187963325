/* pki — the factory CA and the certificates it issues (OpenSSL 3 EVP/X509).
 *
 * Layout of a PKI directory DIR:
 *   DIR/ca.key   CA private key, mode 0600 (keep it off the fleet)
 *   DIR/ca.crt   self-signed CA certificate
 *   DIR/NAME/    one folder per issued identity, mode 0700: this folder is
 *                what the daemons' --tls-dir takes
 *     ca.crt     copy of the CA certificate (verifies peers)
 *     cert.pem   the identity's certificate
 *     key.pem    its private key, mode 0600
 *
 * Keys are EC P-256 (ECDSA with SHA-256), accepted by every TLS 1.3 stack.
 * The CA is valid 10 years: basicConstraints critical CA:TRUE, pathlen 0;
 * keyUsage critical keyCertSign, cRLSign.
 *
 * An issued certificate has subject  O=wavemill, OU=<role>, CN=<name>.
 * THE ROLE IS THE SUBJECT'S organizationalUnitName (OU), one of "agent",
 * "receiver", "worker"; wm_tls_peer_role() reads it back.  Extensions:
 * basicConstraints critical CA:FALSE, keyUsage critical digitalSignature,
 * extendedKeyUsage serverAuth+clientAuth (any identity may be either end),
 * subjectAltName (default DNS:<name>, IP:127.0.0.1), subject/authority key
 * ids.  Serial: 159 random bits.  notBefore is 5 minutes in the past to
 * tolerate clock skew between hosts.
 *
 * Functions write nothing when they fail: inputs are checked and all keys
 * and certificates are built in memory before the first file is created,
 * and files already written are removed if a later one fails. */
#ifndef WM_PKI_H
#define WM_PKI_H

#include <stddef.h>

#define WM_PKI_CA_DAYS 3650
#define WM_PKI_DEFAULT_DAYS 825
#define WM_PKI_MAX_DAYS 36500

struct wm_pki_issue_req {
    const char *name; /* CN and folder name: [A-Za-z0-9._-]+, not "." / ".." */
    const char *role; /* "agent", "receiver" or "worker" */
    int days;         /* validity, 1..WM_PKI_MAX_DAYS; 0 = WM_PKI_DEFAULT_DAYS,
                         WM_PKI_AGENT_DAYS for an agent bound to a server */
    const char *sans; /* "DNS-or-IP,..." or NULL for "<name>,127.0.0.1" */
    long backdate_s;  /* shifts the validity window into the past (tests:
                         an expired certificate); 0 normally */
    /* One identity per source (agent role): the server the certificate is
     * for and the receiver volumes it may write, read maps of and verify.
     * Each becomes a subjectAltName URI, urn:wavemill:server:<server> and
     * urn:wavemill:volume:<volume> (names as proto_volume_valid: 1-100 of
     * A-Z a-z 0-9 . _ -).  A receiver lets a certificate that names
     * volumes touch only those. */
    const char *server;         /* NULL: none */
    const char *const *volumes; /* nvolumes names */
    size_t nvolumes;
};

#define WM_PKI_URI_SERVER "urn:wavemill:server:"
#define WM_PKI_URI_VOLUME "urn:wavemill:volume:"
/* Sources' certificates are short-lived: agent_install renews them. */
#define WM_PKI_AGENT_DAYS 28

/* Creates DIR (mode 0700, parents included) if missing, DIR/ca.key and
 * DIR/ca.crt.  Refuses (-EEXIST) if either file already exists.
 * 0 or -errno with a sentence in err. */
int wm_pki_init(const char *dir, char *err, size_t errlen);

/* Issues DIR/NAME/{ca.crt,cert.pem,key.pem} signed by DIR's CA.  Refuses a
 * bad name or role (-EINVAL), a missing CA (-ENOENT), an identity already
 * issued (-EEXIST: remove DIR/NAME to reissue).  0 or -errno with err. */
int wm_pki_issue(const char *dir, const struct wm_pki_issue_req *req, char *err, size_t errlen);

/* Revokes DIR/NAME's certificate: its serial joins DIR/revoked.txt and a
 * new DIR/crl.pem (signed by the CA, valid WM_PKI_CRL_DAYS) is written,
 * then copied into every identity folder of DIR, where the daemons using
 * that folder as --tls-dir pick it up (tls.h).  Revoking twice is fine.
 * 0 or -errno with err (-ENOENT: no such identity). */
int wm_pki_revoke(const char *dir, const char *name, char *err, size_t errlen);
#define WM_PKI_CRL_DAYS 30

/* Loads DIR/ca.key and DIR/ca.crt and checks they belong together (for
 * pki_crl.c).  0 or -errno with err; the caller frees both. */
struct x509_st;
struct evp_pkey_st;
int wm_pki_load_ca(const char *dir, struct x509_st **cert, struct evp_pkey_st **key, char *err,
                   size_t errlen);

/* 1 if name is a safe file name ([A-Za-z0-9._-]{1,64}, not "." or "..",
 * no ".."), else 0. */
int wm_pki_name_valid(const char *name);
/* 1 if role is "agent", "receiver" or "worker", else 0. */
int wm_pki_role_valid(const char *role);

#endif
