/* tls — TLS 1.3 with mutual authentication against the factory CA.
 *
 * Design notes (why, not what):
 * - TLS 1.3 only, both sides verify the peer against DIR/ca.crt, the server
 *   requires a client certificate.  No session tickets or session cache:
 *   every connection does a full handshake with full verification.
 * - In TLS 1.3 the client finishes its handshake before the server has
 *   looked at the client certificate, so a refused client would only learn
 *   about it on its first read.  To cut such a peer off inside
 *   wm_tls_connect(), the server sends one confirmation byte right after a
 *   successful accept and the client reads it before returning.  Both ends
 *   of every connection go through this module, so this is invisible to
 *   callers; it costs half a round trip per connection.
 * - Writes go through a socket BIO that sends with MSG_NOSIGNAL, so a peer
 *   that vanished yields -EPIPE instead of SIGPIPE.  Daemons should still
 *   ignore SIGPIPE (signal(SIGPIPE, SIG_IGN) in main) for their other fds.
 * - Bulk data: SSL_write_ex of the caller's whole buffer (no partial
 *   writes), records of 16 KiB, AES-128-GCM preferred (AES-NI); no per-call
 *   allocation here. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "pki.h"
#include "tls_crl.h"

#define TLS_CONFIRM_BYTE 0x57          /* 'W': "your certificate was accepted" */
#define TLS_HANDSHAKE_TIMEOUT_MS 30000 /* applied only if the fd has none */
#define TLS_READ_BUFFER (256 * 1024)   /* per connection, see read-ahead */

struct wm_tls_ctx {
    SSL_CTX *ssl_ctx;
    enum wm_tls_side side;
    struct tls_crl *crl; /* revoked peers (DIR/crl.pem), re-read when it changes */
};

struct wm_tls_conn {
    SSL *ssl;
    int fd;
    char peer_name[256];
    char peer_role[16];
    char peer_server[128]; /* urn:wavemill:server: of the peer, or "" */
    char *peer_volumes;    /* its urn:wavemill:volume: names, NUL-separated */
    size_t npeer_volumes;
    char last_error[256];
};

/* ---------------------------------------------------------------- errors */

/* Appends OpenSSL's error queue ("reason; reason") to buf, then clears it. */
static void tls_queue_string(char *buf, size_t len)
{
    unsigned long e;
    size_t used = strlen(buf);
    while ((e = ERR_get_error()) != 0) {
        const char *r = ERR_reason_error_string(e);
        char tmp[256];
        if (r == NULL) {
            ERR_error_string_n(e, tmp, sizeof(tmp));
            r = tmp;
        }
        if (used + 3 >= len)
            continue; /* keep draining the queue */
        int n = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", r);
        if (n > 0)
            used += (size_t)n < len - used ? (size_t)n : len - used - 1;
    }
}

__attribute__((format(printf, 3, 4))) static void tls_seterr(char *err, size_t errlen,
                                                             const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Reason code of the first error in the queue (0 if none), queue kept. */
static int tls_first_reason(void)
{
    unsigned long e = ERR_peek_error();
    return e ? ERR_GET_REASON(e) : 0;
}

/* A received alert shows up as reason SSL_AD_REASON_OFFSET + alert code. */
static int tls_reason_is_alert(int reason)
{
    return reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256;
}

static void tls_alert_sentence(int reason, char *err, size_t errlen)
{
    int alert = reason - SSL_AD_REASON_OFFSET;
    const char *what = SSL_alert_desc_string_long(alert);
    switch (alert) {
    case SSL_AD_CERTIFICATE_REQUIRED:
        snprintf(err, errlen, "peer refused the handshake: it requires a certificate (alert: %s)",
                 what);
        break;
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_DECRYPT_ERROR:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
        snprintf(err, errlen, "peer refused our certificate (alert: %s)", what);
        break;
    case SSL_AD_PROTOCOL_VERSION:
        snprintf(err, errlen, "peer refused the protocol version: TLS 1.3 required (alert: %s)",
                 what);
        break;
    default:
        snprintf(err, errlen, "peer aborted the handshake (alert: %s)", what);
    }
}

/* Turns a failed SSL_connect/SSL_accept/SSL_read into one sentence. */
static void tls_handshake_sentence(SSL *ssl, int ret, char *err, size_t errlen)
{
    int saved_errno = errno;
    int code = SSL_get_error(ssl, ret);
    long vr = SSL_get_verify_result(ssl);
    int reason = tls_first_reason();
    char q[512] = "";

    if (vr != X509_V_OK && code == SSL_ERROR_SSL && !tls_reason_is_alert(reason)) {
        snprintf(err, errlen, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        snprintf(err, errlen, "peer presented no certificate");
    } else if (tls_reason_is_alert(reason)) {
        tls_alert_sentence(reason, err, errlen);
    } else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
               reason == SSL_R_WRONG_VERSION_NUMBER) {
        tls_queue_string(q, sizeof(q));
        snprintf(err, errlen, "peer does not speak TLS 1.3 (%s)", q);
    } else if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
        snprintf(err, errlen, "TLS handshake timed out");
    } else if (code == SSL_ERROR_ZERO_RETURN || (code == SSL_ERROR_SYSCALL && saved_errno == 0) ||
               reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        snprintf(err, errlen, "peer closed the connection during the TLS handshake");
    } else if (code == SSL_ERROR_SYSCALL) {
        snprintf(err, errlen, "connection lost during the TLS handshake: %s",
                 strerror(saved_errno));
    } else {
        tls_queue_string(q, sizeof(q));
        snprintf(err, errlen, "TLS handshake failed: %s", q[0] ? q : "unknown error");
    }
    ERR_clear_error();
}

/* ------------------------------------------------------ MSG_NOSIGNAL BIO */

static BIO_METHOD *g_nosig_method;
static pthread_once_t g_nosig_once = PTHREAD_ONCE_INIT;

static int nosig_write(BIO *b, const char *buf, int len)
{
    int fd = -1;
    BIO_get_fd(b, &fd);
    errno = 0;
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    BIO_clear_retry_flags(b);
    if (n <= 0 && BIO_sock_should_retry((int)n))
        BIO_set_retry_write(b);
    return (int)n;
}

/* A copy of OpenSSL's socket BIO whose write uses MSG_NOSIGNAL. */
static void nosig_method_init(void)
{
    const BIO_METHOD *sock = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "wm socket (MSG_NOSIGNAL)");
    if (m == NULL)
        return;
    if (!BIO_meth_set_write(m, nosig_write) || !BIO_meth_set_read(m, BIO_meth_get_read(sock)) ||
        !BIO_meth_set_puts(m, BIO_meth_get_puts(sock)) ||
        !BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock)) ||
        !BIO_meth_set_create(m, BIO_meth_get_create(sock)) ||
        !BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock))) {
        BIO_meth_free(m);
        return;
    }
    g_nosig_method = m;
}

static BIO *tls_socket_bio(int fd)
{
    pthread_once(&g_nosig_once, nosig_method_init);
    BIO *bio = g_nosig_method ? BIO_new(g_nosig_method) : BIO_new(BIO_s_socket());
    if (bio)
        BIO_set_fd(bio, fd, BIO_NOCLOSE);
    return bio;
}

/* ------------------------------------------------------------- contexts */

static int tls_load_files(SSL_CTX *sc, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    char q[512] = "";

    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    if (access(path, R_OK) != 0) {
        tls_seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -ENOENT;
    }
    if (SSL_CTX_load_verify_locations(sc, path, NULL) != 1) {
        tls_queue_string(q, sizeof(q));
        tls_seterr(err, errlen, "cannot load CA certificate %s: %s", path, q);
        return -EINVAL;
    }
    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    if (access(path, R_OK) != 0) {
        tls_seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -ENOENT;
    }
    if (SSL_CTX_use_certificate_chain_file(sc, path) != 1) {
        tls_queue_string(q, sizeof(q));
        tls_seterr(err, errlen, "cannot load certificate %s: %s", path, q);
        return -EINVAL;
    }
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    if (access(path, R_OK) != 0) {
        tls_seterr(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -ENOENT;
    }
    if (SSL_CTX_use_PrivateKey_file(sc, path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(sc) != 1) {
        tls_queue_string(q, sizeof(q));
        tls_seterr(err, errlen, "cannot load private key %s: %s", path, q);
        return -EINVAL;
    }
    return 0;
}

/* Refuses a revoked peer during the handshake (the peer gets the alert
 * "certificate revoked"), after OpenSSL's own chain checks passed. */
static int tls_verify_cb(int ok, X509_STORE_CTX *x)
{
    if (!ok || X509_STORE_CTX_get_error_depth(x) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct wm_tls_ctx *ctx = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    if (ctx && ctx->crl && tls_crl_revoked(ctx->crl, X509_STORE_CTX_get_current_cert(x))) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REVOKED);
        return 0;
    }
    return ok;
}

static void tls_ctx_configure(SSL_CTX *sc, enum wm_tls_side side)
{
    SSL_CTX_set_min_proto_version(sc, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(sc, TLS1_3_VERSION);
    /* AES-128-GCM first: with AES-NI it is the fastest suite, and still
     * 128-bit security. */
    SSL_CTX_set_ciphersuites(sc, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                                 "TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_verify(sc, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls_verify_cb);
    SSL_CTX_set_verify_depth(sc, 2);
    /* blocking sockets: retry internally after non-application records */
    SSL_CTX_set_mode(sc, SSL_MODE_AUTO_RETRY);
    SSL_CTX_clear_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
    /* read-ahead into a large buffer: one recv() brings many 16 KiB records
     * instead of two recv() calls (header, body) per record */
    SSL_CTX_set_read_ahead(sc, 1);
    SSL_CTX_set_default_read_buffer_len(sc, TLS_READ_BUFFER);
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(sc, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (side == WM_TLS_SERVER)
        SSL_CTX_set_num_tickets(sc, 0);
}

struct wm_tls_ctx *wm_tls_ctx_new(const char *dir, enum wm_tls_side side, char *err, size_t errlen)
{
    if (dir == NULL || dir[0] == '\0') {
        tls_seterr(err, errlen, "no TLS directory given");
        return NULL;
    }
    struct wm_tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        tls_seterr(err, errlen, "out of memory");
        return NULL;
    }
    ERR_clear_error();
    ctx->side = side;
    ctx->ssl_ctx = SSL_CTX_new(side == WM_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (ctx->ssl_ctx == NULL) {
        char q[512] = "";
        tls_queue_string(q, sizeof(q));
        tls_seterr(err, errlen, "cannot create TLS context: %s", q);
        free(ctx);
        return NULL;
    }
    tls_ctx_configure(ctx->ssl_ctx, side);
    SSL_CTX_set_app_data(ctx->ssl_ctx, ctx);
    if (tls_load_files(ctx->ssl_ctx, dir, err, errlen) < 0 ||
        !(ctx->crl = tls_crl_new(dir, err, errlen))) {
        wm_tls_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

int wm_tls_own_cert_valid(const char *dir, char *err, size_t errlen)
{
    char path[4200], when[64] = "";
    snprintf(path, sizeof(path), "%s/cert.pem", dir);
    FILE *f = fopen(path, "re");
    X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!c) {
        tls_seterr(err, errlen, "cannot read the certificate %s", path);
        return -ENOENT;
    }
    int rc = 0;
    BIO *b = BIO_new(BIO_s_mem());
    if (X509_cmp_current_time(X509_get0_notAfter(c)) <= 0) {
        ASN1_TIME_print(b, X509_get0_notAfter(c));
        rc = -EKEYEXPIRED;
    } else if (X509_cmp_current_time(X509_get0_notBefore(c)) >= 0) {
        ASN1_TIME_print(b, X509_get0_notBefore(c));
        rc = -EKEYEXPIRED;
    }
    if (rc < 0) {
        int n = BIO_read(b, when, sizeof(when) - 1);
        when[n > 0 ? n : 0] = '\0';
        tls_seterr(err, errlen, "the certificate %s %s %s (renew it: wavemill pki issue)", path,
                   X509_cmp_current_time(X509_get0_notAfter(c)) <= 0 ? "expired on"
                                                                     : "is not valid before",
                   when);
    }
    BIO_free(b);
    X509_free(c);
    return rc;
}

void wm_tls_ctx_free(struct wm_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    tls_crl_free(ctx->crl);
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ---------------------------------------------------------- connections */

static const char *const tls_known_roles[] = {"agent", "receiver", "worker"};

/* Keeps one subjectAltName URI of the peer's binding (pki.h). */
static void tls_conn_bind(struct wm_tls_conn *c, const char *uri, size_t len)
{
    size_t ns = strlen(WM_PKI_URI_SERVER), nv = strlen(WM_PKI_URI_VOLUME);
    if (len > ns && strncmp(uri, WM_PKI_URI_SERVER, ns) == 0) {
        snprintf(c->peer_server, sizeof(c->peer_server), "%.*s", (int)(len - ns), uri + ns);
        return;
    }
    if (len <= nv || strncmp(uri, WM_PKI_URI_VOLUME, nv) != 0 || memchr(uri, 0, len))
        return;
    size_t have = 0;
    for (size_t i = 0; i < c->npeer_volumes; i++)
        have += strlen(c->peer_volumes + have) + 1;
    char *grown = realloc(c->peer_volumes, have + (len - nv) + 1);
    if (!grown)
        return; /* fewer volumes allowed, never more */
    memcpy(grown + have, uri + nv, len - nv);
    grown[have + len - nv] = '\0';
    c->peer_volumes = grown;
    c->npeer_volumes++;
}

static void tls_conn_bindings(struct wm_tls_conn *c, X509 *peer)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_URI)
            tls_conn_bind(c, (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
                          (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier));
    }
    GENERAL_NAMES_free(names);
}

/* Reads CN and role (subject OU, see pki.h) of the verified peer. */
static void tls_conn_identify(struct wm_tls_conn *c)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    if (peer == NULL)
        return;
    tls_conn_bindings(c, peer);
    X509_NAME *subj = X509_get_subject_name(peer);
    char ou[32] = "";
    if (X509_NAME_get_text_by_NID(subj, NID_commonName, c->peer_name, sizeof(c->peer_name)) < 0)
        c->peer_name[0] = '\0';
    if (X509_NAME_get_text_by_NID(subj, NID_organizationalUnitName, ou, sizeof(ou)) < 0)
        return;
    for (size_t i = 0; i < sizeof(tls_known_roles) / sizeof(tls_known_roles[0]); i++)
        if (strcmp(ou, tls_known_roles[i]) == 0)
            snprintf(c->peer_role, sizeof(c->peer_role), "%s", ou);
}

/* One socket BIO for both directions.  (A write buffer that merges the
 * 16 KiB records of a large SSL_write into fewer send() calls was measured:
 * it trades syscall time for memcpy time and gained nothing on loopback.) */
static int tls_attach_bios(SSL *ssl, int fd)
{
    BIO *sock = tls_socket_bio(fd);
    if (sock == NULL)
        return -ENOMEM;
    SSL_set_bio(ssl, sock, sock); /* the SSL owns the BIO now */
    return 0;
}

static struct wm_tls_conn *tls_conn_new(struct wm_tls_ctx *ctx, int fd, char *err, size_t errlen)
{
    struct wm_tls_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        tls_seterr(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = fd;
    c->ssl = SSL_new(ctx->ssl_ctx);
    if (c->ssl == NULL || tls_attach_bios(c->ssl, fd) < 0) {
        char q[512] = "";
        tls_queue_string(q, sizeof(q));
        tls_seterr(err, errlen, "cannot create TLS connection: %s", q[0] ? q : "out of memory");
        SSL_free(c->ssl);
        free(c);
        return NULL;
    }
    return c;
}

/* If the fd has no io timeouts, bound the handshake anyway; *restore says
 * whether to clear them again afterwards. */
static void tls_handshake_timeouts(int fd, int *restore)
{
    struct timeval tv = {0, 0};
    socklen_t len = sizeof(tv);
    *restore = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) != 0 || tv.tv_sec || tv.tv_usec)
        return;
    tv.tv_sec = TLS_HANDSHAKE_TIMEOUT_MS / 1000;
    tv.tv_usec = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0)
        *restore = 1;
}

static void tls_clear_timeouts(int fd)
{
    struct timeval tv = {0, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void tls_set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* not TCP: ignored */
}

/* Frees a connection whose handshake failed, closing its fd. */
static struct wm_tls_conn *tls_conn_abort(struct wm_tls_conn *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    free(c->peer_volumes);
    free(c);
    return NULL;
}

static int tls_client_handshake(struct wm_tls_conn *c, char *err, size_t errlen)
{
    unsigned char b = 0;
    size_t got = 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_connect(c->ssl);
    if (ret != 1) {
        tls_handshake_sentence(c->ssl, ret, err, errlen);
        return -EPROTO;
    }
    /* the server's verdict on our certificate (see the top of this file) */
    errno = 0;
    ret = SSL_read_ex(c->ssl, &b, 1, &got);
    if (ret != 1) {
        tls_handshake_sentence(c->ssl, ret, err, errlen);
        return -EPROTO;
    }
    if (b != TLS_CONFIRM_BYTE) {
        tls_seterr(err, errlen, "peer is not a wavemill TLS endpoint (bad confirmation byte)");
        return -EPROTO;
    }
    return 0;
}

static int tls_server_handshake(struct wm_tls_conn *c, char *err, size_t errlen)
{
    static const unsigned char confirm = TLS_CONFIRM_BYTE;
    size_t put = 0;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_accept(c->ssl);
    if (ret == 1) {
        errno = 0;
        ret = SSL_write_ex(c->ssl, &confirm, 1, &put);
    }
    if (ret != 1) {
        tls_handshake_sentence(c->ssl, ret, err, errlen);
        return -EPROTO;
    }
    return 0;
}

static struct wm_tls_conn *tls_handshake(struct wm_tls_ctx *ctx, int fd, enum wm_tls_side side,
                                         char *err, size_t errlen)
{
    int restore = 0;
    if (ctx == NULL || fd < 0 || ctx->side != side) {
        tls_seterr(err, errlen, "%s",
                   ctx && fd >= 0 ? "TLS context used for the wrong side"
                                  : "no TLS context or socket");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char why[512];
    if (tls_crl_refresh(ctx->crl, why, sizeof(why)) < 0)
        wm_error("tls.crl_refused", "err=\"%s\" (the previous revocation list stays)", why);
    struct wm_tls_conn *c = tls_conn_new(ctx, fd, err, errlen);
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    tls_set_nodelay(fd);
    tls_handshake_timeouts(fd, &restore);
    int rc = side == WM_TLS_CLIENT ? tls_client_handshake(c, err, errlen)
                                   : tls_server_handshake(c, err, errlen);
    if (rc < 0)
        return tls_conn_abort(c);
    if (restore)
        tls_clear_timeouts(fd);
    tls_conn_identify(c);
    return c;
}

struct wm_tls_conn *wm_tls_connect(struct wm_tls_ctx *ctx, int fd, char *err, size_t errlen)
{
    return tls_handshake(ctx, fd, WM_TLS_CLIENT, err, errlen);
}

struct wm_tls_conn *wm_tls_accept(struct wm_tls_ctx *ctx, int fd, char *err, size_t errlen)
{
    return tls_handshake(ctx, fd, WM_TLS_SERVER, err, errlen);
}

/* ------------------------------------------------------------------- io */

/* Maps a failed SSL_read_ex/SSL_write_ex to an errno; -EINTR means retry. */
static int tls_io_error(struct wm_tls_conn *c, int ret, int nothing_read)
{
    int saved_errno = errno;
    int code = SSL_get_error(c->ssl, ret);
    int reason = tls_first_reason();
    int rc;

    switch (code) {
    case SSL_ERROR_ZERO_RETURN:
        snprintf(c->last_error, sizeof(c->last_error), "peer closed the connection");
        rc = nothing_read ? -ENODATA : -ECONNRESET;
        break;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: /* blocking socket: EAGAIN is SO_*TIMEO */
        if (saved_errno == EINTR)
            return -EINTR;
        snprintf(c->last_error, sizeof(c->last_error), "timed out");
        rc = -ETIMEDOUT;
        break;
    case SSL_ERROR_SYSCALL:
        rc = saved_errno ? -saved_errno : -ECONNRESET;
        snprintf(c->last_error, sizeof(c->last_error), "%s",
                 saved_errno ? strerror(saved_errno) : "peer closed the connection abruptly");
        break;
    default:
        if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            snprintf(c->last_error, sizeof(c->last_error), "peer closed the connection abruptly");
            rc = -ECONNRESET;
        } else {
            c->last_error[0] = '\0';
            tls_queue_string(c->last_error, sizeof(c->last_error));
            rc = -EPROTO;
        }
    }
    ERR_clear_error();
    return rc;
}

int wm_tls_write_full(struct wm_tls_conn *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        int ret = SSL_write_ex(c->ssl, p + done, len - done, &n);
        if (ret == 1) {
            done += n;
            continue;
        }
        int rc = tls_io_error(c, ret, 0);
        if (rc == -EINTR)
            continue; /* same arguments again, as OpenSSL requires */
        return rc == -ENODATA ? -ECONNRESET : rc;
    }
    return 0;
}

int wm_tls_read_full(struct wm_tls_conn *c, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        int ret = SSL_read_ex(c->ssl, p + done, len - done, &n);
        if (ret == 1) {
            done += n;
            continue;
        }
        int rc = tls_io_error(c, ret, done == 0);
        if (rc != -EINTR)
            return rc;
    }
    return 0;
}

const char *wm_tls_peer_name(const struct wm_tls_conn *c)
{
    return c ? c->peer_name : "";
}

const char *wm_tls_peer_server(const struct wm_tls_conn *c)
{
    return c ? c->peer_server : "";
}

size_t wm_tls_peer_volumes(const struct wm_tls_conn *c)
{
    return c ? c->npeer_volumes : 0;
}

bool wm_tls_peer_may_volume(const struct wm_tls_conn *c, const char *volume)
{
    if (!c || c->npeer_volumes == 0)
        return true;
    const char *p = c->peer_volumes;
    for (size_t i = 0; i < c->npeer_volumes; i++, p += strlen(p) + 1)
        if (strcmp(p, volume) == 0)
            return true;
    return false;
}

const char *wm_tls_peer_role(const struct wm_tls_conn *c)
{
    return c ? c->peer_role : "";
}

const char *wm_tls_last_error(const struct wm_tls_conn *c)
{
    return c ? c->last_error : "";
}

int wm_tls_fd(const struct wm_tls_conn *c)
{
    return c ? c->fd : -1;
}

void wm_tls_close(struct wm_tls_conn *c)
{
    if (c == NULL)
        return;
    if (c->last_error[0] == '\0') {
        /* best effort close_notify; never wait long for a stuck peer */
        struct timeval tv = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    SSL_free(c->ssl);
    close(c->fd);
    free(c->peer_volumes);
    free(c);
}

/* -------------------------------------------------------------- sockets */

/* "host:port", "[v6addr]:port", ":port" or "*:port" → host ("" = any) and
 * port.  Returns 0 or -EINVAL. */
static int tcp_split(const char *hostport, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon, *h = hostport;
    size_t hl;
    if (hostport == NULL)
        return -EINVAL;
    if (h[0] == '[') {
        const char *close_br = strchr(h, ']');
        if (close_br == NULL || close_br[1] != ':')
            return -EINVAL;
        h++;
        hl = (size_t)(close_br - h);
        colon = close_br + 1;
    } else {
        colon = strrchr(h, ':');
        if (colon == NULL || memchr(h, ':', (size_t)(colon - h)) != NULL)
            return -EINVAL; /* bare IPv6 needs brackets */
        hl = (size_t)(colon - h);
    }
    if (hl >= hostlen || colon[1] == '\0' || strlen(colon + 1) >= portlen)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (strcmp(host, "*") == 0)
        host[0] = '\0';
    strcpy(port, colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return -EINVAL;
    return 0;
}

static int tcp_resolve(const char *hostport, int passive, struct addrinfo **res, char *err,
                       size_t errlen)
{
    char host[256], port[16];
    struct addrinfo hints;
    if (tcp_split(hostport, host, sizeof(host), port, sizeof(port)) < 0) {
        tls_seterr(err, errlen, "bad address \"%s\": expected HOST:PORT", hostport ? hostport : "");
        return -EINVAL;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
    if (g != 0) {
        tls_seterr(err, errlen, "cannot resolve %s: %s", hostport, gai_strerror(g));
        return -EHOSTUNREACH;
    }
    return 0;
}

int wm_tcp_listen(const char *hostport, int backlog, char *err, size_t errlen)
{
    struct addrinfo *res = NULL, *ai;
    int fd = -1, e = 0, one = 1;
    int rc = tcp_resolve(hostport, 1, &res, err, errlen);
    if (rc < 0)
        return rc;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, backlog > 0 ? backlog : 64) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        tls_seterr(err, errlen, "cannot listen on %s: %s", hostport, strerror(e ? e : EINVAL));
        return -(e ? e : EINVAL);
    }
    return fd;
}

int wm_tcp_set_timeouts(int fd, int io_timeout_ms)
{
    struct timeval tv;
    tv.tv_sec = io_timeout_ms > 0 ? io_timeout_ms / 1000 : 0;
    tv.tv_usec = io_timeout_ms > 0 ? (io_timeout_ms % 1000) * 1000 : 0;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        return -errno;
    return 0;
}

/* Non-blocking connect bounded by timeout_ms (0 = none); 0 or -errno. */
static int tcp_connect_one(int fd, const struct addrinfo *ai, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int soerr = 0, n;
    socklen_t len = sizeof(soerr);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -errno;
    do
        n = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return -ETIMEDOUT;
    if (n < 0)
        return -errno;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        return -errno;
    return soerr ? -soerr : 0;
}

int wm_tcp_connect(const char *hostport, int connect_timeout_ms, int io_timeout_ms, char *err,
                   size_t errlen)
{
    struct addrinfo *res = NULL, *ai;
    int fd = -1, rc = tcp_resolve(hostport, 0, &res, err, errlen);
    if (rc < 0)
        return rc;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        rc = tcp_connect_one(fd, ai, connect_timeout_ms);
        if (rc == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        tls_seterr(err, errlen, "cannot connect to %s: %s", hostport, strerror(-rc));
        return rc;
    }
    /* back to blocking: io is bounded by SO_RCVTIMEO/SO_SNDTIMEO instead */
    rc = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    tls_set_nodelay(fd);
    if (rc != 0 || wm_tcp_set_timeouts(fd, io_timeout_ms) < 0) {
        rc = -errno;
        tls_seterr(err, errlen, "cannot configure socket to %s: %s", hostport, strerror(-rc));
        close(fd);
        return rc;
    }
    return fd;
}

int wm_tcp_accept(int listen_fd, int io_timeout_ms, char *err, size_t errlen)
{
    int fd;
    do
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0) {
        int e = errno;
        tls_seterr(err, errlen, "accept failed: %s", strerror(e));
        return -e;
    }
    tls_set_nodelay(fd);
    if (wm_tcp_set_timeouts(fd, io_timeout_ms) < 0) {
        int e = errno;
        tls_seterr(err, errlen, "cannot set socket timeouts: %s", strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

int wm_tcp_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}
