/* pki — the factory CA and the certificates it issues.  See pki.h for the
 * layout and the certificate profile. */
#include "pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define PKI_SKEW_S 300 /* notBefore this far in the past: clock skew */
#define PKI_PATH_MAX 4096
#define PKI_SAN_MAX 16384
#define PKI_IDIR_MAX (PKI_PATH_MAX - 64) /* room for "/cert.pem" */

__attribute__((format(printf, 3, 4))) static void pki_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A printable, bounded copy of untrusted input for messages: control and
 * non-ASCII bytes become '?', so an error stays one line. */
static const char *pki_show(const char *in, char *buf, size_t len /* >= 8 */)
{
    size_t i = 0;
    for (; in && in[i] && i + 4 < len; i++)
        buf[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    if (in && in[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* OpenSSL's first queued reason, for messages; clears the queue. */
static const char *pki_ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, len, "unknown OpenSSL error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* ----------------------------------------------------------- validation */

int wm_pki_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || strcmp(name, ".") == 0 || strstr(name, "..") != NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int wm_pki_role_valid(const char *role)
{
    return role && (strcmp(role, "agent") == 0 || strcmp(role, "receiver") == 0 ||
                    strcmp(role, "worker") == 0);
}

static int pki_dns_valid(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '-' || ch == '_' || ch == '*';
        if (!ok)
            return 0;
    }
    return 1;
}

/* "a,10.0.0.1,::1" → "DNS:a,IP:10.0.0.1,IP:::1" (X509V3 config syntax).
 * Tokens are validated, so nothing can inject config syntax. */
static int pki_san_conf(const char *sans, char *out, size_t outlen, char *err, size_t errlen)
{
    size_t used = 0;
    const char *p = sans;
    out[0] = '\0';
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char tok[256];
        unsigned char addr[16];
        if (n == 0 || n >= sizeof(tok)) {
            char shown[96];
            pki_err(err, errlen, "bad --san list \"%s\": empty or too long entry",
                    pki_show(sans, shown, sizeof(shown)));
            return -EINVAL;
        }
        memcpy(tok, p, n);
        tok[n] = '\0';
        int is_ip = inet_pton(AF_INET, tok, addr) == 1 || inet_pton(AF_INET6, tok, addr) == 1;
        if (!is_ip && !pki_dns_valid(tok, n)) {
            char shown[96];
            pki_err(err, errlen, "bad --san entry \"%s\": not an IP address or DNS name",
                    pki_show(tok, shown, sizeof(shown)));
            return -EINVAL;
        }
        int w = snprintf(out + used, outlen - used, "%s%s:%s", used ? "," : "",
                         is_ip ? "IP" : "DNS", tok);
        if (w < 0 || (size_t)w >= outlen - used) {
            pki_err(err, errlen, "--san list too long");
            return -EINVAL;
        }
        used += (size_t)w;
        p = end ? end + 1 : p + n;
    }
    if (used == 0) {
        pki_err(err, errlen, "empty --san list");
        return -EINVAL;
    }
    return 0;
}

/* ----------------------------------------------------------------- files */

/* mkdir -p with mode for the directories it creates. */
static int pki_mkdirs(const char *dir, mode_t mode)
{
    char path[PKI_PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST)
            return -errno;
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int pki_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Writes a PEM object to a new file (O_EXCL) with mode; 0 or -errno. */
static int pki_write_pem(const char *path, mode_t mode, X509 *cert, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    fchmod(fd, mode); /* umask must not widen or narrow it */
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int e = errno;
        close(fd);
        unlink(path);
        return -e;
    }
    int ok =
        cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        unlink(path);
        return -(e ? e : EIO);
    }
    return 0;
}

/* ---------------------------------------------------------- certificates */

static int pki_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, (char *)value);
    if (ext == NULL)
        return -EINVAL;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -ENOMEM;
}

static int pki_random_serial(X509 *cert)
{
    BIGNUM *bn = BN_new();
    int ok = bn && BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    return ok ? 0 : -ENOMEM;
}

static X509_NAME *pki_subject(const char *cn, const char *ou)
{
    X509_NAME *n = X509_NAME_new();
    if (n == NULL)
        return NULL;
    int ok = X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"wavemill",
                                        -1, -1, 0);
    if (ok && ou)
        ok = X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1, -1,
                                        0);
    ok = ok &&
         X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    if (!ok) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* A certificate for key with subject, valid from now-backdate-skew for
 * days; issuer NULL = self-signed.  Extensions are added by the caller. */
static X509 *pki_cert_base(EVP_PKEY *key, X509_NAME *subject, X509 *issuer, int days,
                           long backdate_s)
{
    X509 *cert = X509_new();
    if (cert == NULL)
        return NULL;
    long from = -backdate_s - PKI_SKEW_S;
    int ok = X509_set_version(cert, 2) && pki_random_serial(cert) == 0 &&
             X509_gmtime_adj(X509_getm_notBefore(cert), from) &&
             X509_gmtime_adj(X509_getm_notAfter(cert), -backdate_s + (long)days * 86400L) &&
             X509_set_subject_name(cert, subject) &&
             X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : subject) &&
             X509_set_pubkey(cert, key);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static X509 *pki_make_ca(EVP_PKEY *key)
{
    X509_NAME *subj = pki_subject("wavemill factory CA", NULL);
    X509 *cert = subj ? pki_cert_base(key, subj, NULL, WM_PKI_CA_DAYS, 0) : NULL;
    X509_NAME_free(subj);
    if (cert == NULL)
        return NULL;
    int rc = pki_add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    rc = rc ? rc : pki_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    rc = rc ? rc : pki_add_ext(cert, cert, NID_subject_key_identifier, "hash");
    if (rc || !X509_sign(cert, key, EVP_sha256())) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static X509 *pki_make_leaf(EVP_PKEY *key, const struct wm_pki_issue_req *req, const char *san,
                           X509 *ca_cert, EVP_PKEY *ca_key)
{
    X509_NAME *subj = pki_subject(req->name, req->role);
    X509 *cert = subj ? pki_cert_base(key, subj, ca_cert, req->days, req->backdate_s) : NULL;
    X509_NAME_free(subj);
    if (cert == NULL)
        return NULL;
    int rc = pki_add_ext(cert, ca_cert, NID_basic_constraints, "critical,CA:FALSE");
    rc = rc ? rc : pki_add_ext(cert, ca_cert, NID_key_usage, "critical,digitalSignature");
    rc = rc ? rc : pki_add_ext(cert, ca_cert, NID_ext_key_usage, "serverAuth,clientAuth");
    rc = rc ? rc : pki_add_ext(cert, ca_cert, NID_subject_alt_name, san);
    rc = rc ? rc : pki_add_ext(cert, ca_cert, NID_subject_key_identifier, "hash");
    rc = rc ? rc : pki_add_ext(cert, ca_cert, NID_authority_key_identifier, "keyid:always");
    if (rc || !X509_sign(cert, ca_key, EVP_sha256())) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/* -------------------------------------------------------------------- CA */

static EVP_PKEY *pki_keygen(void)
{
    return EVP_EC_gen("P-256");
}

int wm_pki_init(const char *dir, char *err, size_t errlen)
{
    char key_path[PKI_PATH_MAX], crt_path[PKI_PATH_MAX], why[256];
    if (dir == NULL || dir[0] == '\0' || strlen(dir) > PKI_PATH_MAX - 16) {
        pki_err(err, errlen, "no or too long PKI directory given");
        return -EINVAL;
    }
    snprintf(key_path, sizeof(key_path), "%s/ca.key", dir);
    snprintf(crt_path, sizeof(crt_path), "%s/ca.crt", dir);
    if (pki_exists(key_path) || pki_exists(crt_path)) {
        pki_err(err, errlen, "a CA already exists in %s (refusing to overwrite %s)", dir,
                pki_exists(key_path) ? "ca.key" : "ca.crt");
        return -EEXIST;
    }
    ERR_clear_error();
    EVP_PKEY *key = pki_keygen();
    X509 *cert = key ? pki_make_ca(key) : NULL;
    int rc = 0;
    if (cert == NULL) {
        pki_err(err, errlen, "cannot create the CA: %s", pki_ssl_reason(why, sizeof(why)));
        rc = -ENOMEM;
    } else if ((rc = pki_mkdirs(dir, 0700)) < 0) {
        pki_err(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
    } else if ((rc = pki_write_pem(key_path, 0600, NULL, key)) < 0) {
        pki_err(err, errlen, "cannot write %s: %s", key_path, strerror(-rc));
    } else if ((rc = pki_write_pem(crt_path, 0644, cert, NULL)) < 0) {
        pki_err(err, errlen, "cannot write %s: %s", crt_path, strerror(-rc));
        unlink(key_path);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

int wm_pki_load_ca(const char *dir, X509 **cert, EVP_PKEY **key, char *err, size_t errlen)
{
    char path[PKI_PATH_MAX], why[256];
    FILE *f;
    *cert = NULL;
    *key = NULL;
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    if ((f = fopen(path, "re")) == NULL) {
        pki_err(err, errlen, "no CA in %s (run `wavemill pki init --dir %s` first)", dir, dir);
        return -ENOENT;
    }
    *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    snprintf(path, sizeof(path), "%s/ca.key", dir);
    if (*cert && (f = fopen(path, "re")) == NULL) {
        pki_err(err, errlen, "cannot read the CA key %s: %s", path, strerror(errno));
        X509_free(*cert);
        *cert = NULL;
        return -ENOENT;
    }
    if (*cert) {
        *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (*cert == NULL || *key == NULL || X509_check_private_key(*cert, *key) != 1) {
        pki_err(err, errlen, "the CA in %s is unreadable or its key does not match: %s", dir,
                pki_ssl_reason(why, sizeof(why)));
        X509_free(*cert);
        EVP_PKEY_free(*key);
        *cert = NULL;
        *key = NULL;
        return -EINVAL;
    }
    return 0;
}

/* ----------------------------------------------------------------- issue */

/* 1 for a receiver volume or server name (as proto_volume_valid). */
static int pki_volume_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 100 || s[0] == '.' || s[0] == '-')
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* Appends one ",URI:<prefix><name>" to san. */
static int pki_san_uri(char *san, size_t sanlen, const char *prefix, const char *name, char *err,
                       size_t errlen)
{
    char shown[96];
    size_t used = strlen(san);
    if (!pki_volume_valid(name)) {
        pki_err(err, errlen,
                "bad server or volume name \"%s\": 1-100 characters of A-Z a-z 0-9 . _ -",
                pki_show(name, shown, sizeof(shown)));
        return -EINVAL;
    }
    int w = snprintf(san + used, sanlen - used, ",URI:%s%s", prefix, name);
    if (w < 0 || (size_t)w >= sanlen - used) {
        pki_err(err, errlen, "too many volumes for one certificate");
        return -EINVAL;
    }
    return 0;
}

/* The server and volume binding of an agent certificate (pki.h). */
static int pki_binding_conf(const struct wm_pki_issue_req *req, char *san, size_t sanlen, char *err,
                            size_t errlen)
{
    if ((req->server || req->nvolumes) && strcmp(req->role, "agent") != 0) {
        pki_err(err, errlen, "only agent certificates are bound to a server and volumes");
        return -EINVAL;
    }
    int rc =
        req->server ? pki_san_uri(san, sanlen, WM_PKI_URI_SERVER, req->server, err, errlen) : 0;
    for (size_t i = 0; rc == 0 && i < req->nvolumes; i++)
        rc = pki_san_uri(san, sanlen, WM_PKI_URI_VOLUME, req->volumes[i], err, errlen);
    return rc;
}

static int pki_check_req(const struct wm_pki_issue_req *req, char *san, size_t sanlen, char *err,
                         size_t errlen)
{
    char shown[96];
    if (req == NULL || !wm_pki_name_valid(req->name)) {
        pki_err(err, errlen,
                "bad name \"%s\": use 1-64 characters of A-Z a-z 0-9 . _ - (no \"..\")",
                pki_show(req ? req->name : NULL, shown, sizeof(shown)));
        return -EINVAL;
    }
    if (!wm_pki_role_valid(req->role)) {
        pki_err(err, errlen, "bad role \"%s\": use agent, receiver or worker",
                pki_show(req->role, shown, sizeof(shown)));
        return -EINVAL;
    }
    if (req->days < 0 || req->days > WM_PKI_MAX_DAYS || req->backdate_s < 0) {
        pki_err(err, errlen, "bad validity: days must be 1..36500");
        return -EINVAL;
    }
    int rc = 0;
    if (req->sans == NULL)
        snprintf(san, sanlen, "DNS:%s,IP:127.0.0.1", req->name);
    else
        rc = pki_san_conf(req->sans, san, sanlen, err, errlen);
    return rc < 0 ? rc : pki_binding_conf(req, san, sanlen, err, errlen);
}

/* Writes the three files of an identity; removes what it wrote on failure. */
static int pki_write_identity(const char idir[PKI_IDIR_MAX], X509 *ca_cert, X509 *cert,
                              EVP_PKEY *key, char *err, size_t errlen)
{
    static const char *const names[] = {"key.pem", "cert.pem", "ca.crt"};
    char paths[3][PKI_PATH_MAX];
    int rc = 0, i;
    for (i = 0; i < 3; i++)
        snprintf(paths[i], sizeof(paths[i]), "%s/%s", idir, names[i]);
    for (i = 0; i < 3 && rc == 0; i++) {
        rc = pki_write_pem(paths[i], i == 0 ? 0600 : 0644,
                           i == 0   ? NULL
                           : i == 1 ? cert
                                    : ca_cert,
                           key);
        if (rc < 0)
            pki_err(err, errlen, "cannot write %s: %s", paths[i], strerror(-rc));
    }
    if (rc < 0)
        for (int j = 0; j < i - 1; j++)
            unlink(paths[j]);
    return rc;
}

/* Creates DIR/NAME (0700) unless it exists; *created says if we made it. */
static int pki_identity_dir(const char idir[PKI_IDIR_MAX], int *created, char *err, size_t errlen)
{
    char path[PKI_PATH_MAX];
    *created = 0;
    snprintf(path, sizeof(path), "%s/cert.pem", idir);
    int taken = pki_exists(path);
    snprintf(path, sizeof(path), "%s/key.pem", idir);
    taken = taken || pki_exists(path);
    if (taken) {
        pki_err(err, errlen, "%s is already issued (remove the folder %s to reissue)", idir, idir);
        return -EEXIST;
    }
    if (mkdir(idir, 0700) == 0)
        *created = 1;
    else if (errno != EEXIST) {
        int e = errno;
        pki_err(err, errlen, "cannot create %s: %s", idir, strerror(e));
        return -e;
    }
    chmod(idir, 0700);
    return 0;
}

int wm_pki_issue(const char *dir, const struct wm_pki_issue_req *req, char *err, size_t errlen)
{
    char san[PKI_SAN_MAX], idir[PKI_IDIR_MAX], why[256];
    struct wm_pki_issue_req r;
    X509 *ca_cert = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    int created = 0;
    int rc = pki_check_req(req, san, sizeof(san), err, errlen);
    if (rc < 0)
        return rc;
    if (dir == NULL || dir[0] == '\0' || strlen(dir) > PKI_IDIR_MAX - 80) {
        pki_err(err, errlen, "no or too long PKI directory given");
        return -EINVAL;
    }
    r = *req;
    if (r.days == 0)
        r.days = r.server ? WM_PKI_AGENT_DAYS : WM_PKI_DEFAULT_DAYS;
    snprintf(idir, sizeof(idir), "%s/%s", dir, r.name);
    ERR_clear_error();
    if ((rc = wm_pki_load_ca(dir, &ca_cert, &ca_key, err, errlen)) < 0)
        return rc;
    key = pki_keygen();
    cert = key ? pki_make_leaf(key, &r, san, ca_cert, ca_key) : NULL;
    if (cert == NULL) {
        pki_err(err, errlen, "cannot create the certificate: %s", pki_ssl_reason(why, sizeof(why)));
        rc = -EINVAL;
    } else if ((rc = pki_identity_dir(idir, &created, err, errlen)) == 0) {
        rc = pki_write_identity(idir, ca_cert, cert, key, err, errlen);
        if (rc < 0 && created)
            rmdir(idir);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    return rc;
}
