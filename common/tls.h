/* tls — TLS 1.3 with mutual authentication against the factory CA.
 *
 * A tls dir (made by `wavemill pki issue`) holds ca.crt, cert.pem, key.pem.
 * Both sides present their certificate and verify the peer's against ca.crt;
 * a peer without a valid certificate fails the handshake, before any
 * application byte is exchanged.  The certificate's role (agent, receiver,
 * worker) is carried in the certificate (see pki) and checked by the caller
 * through wm_tls_peer_role().
 *
 * Connections wrap a connected/accepted socket; reads and writes are
 * blocking with the socket's own timeouts (SO_RCVTIMEO/SO_SNDTIMEO).
 *
 * Both ends of a connection must use this module: after a successful
 * accept the server sends one confirmation byte that wm_tls_connect()
 * consumes, so a client whose certificate the server refused learns it in
 * wm_tls_connect() (TLS 1.3 alone would tell it only on its first read).
 * Writes never raise SIGPIPE (MSG_NOSIGNAL); daemons should still ignore
 * SIGPIPE in main for their other descriptors.
 * The context only accepts TLS 1.3; suites AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305 in that order; no session resumption. */
#ifndef WM_TLS_H
#define WM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct wm_tls_ctx;
struct wm_tls_conn;

enum wm_tls_side { WM_TLS_CLIENT, WM_TLS_SERVER };

/* Loads DIR/ca.crt, DIR/cert.pem, DIR/key.pem, and DIR/crl.pem when there
 * is one (pki.h: wm_pki_revoke).  NULL with err on failure (names the file
 * and OpenSSL's reason; a CRL not signed by ca.crt is a failure).
 * Thread-safe to share afterwards.  Every handshake first re-reads a
 * crl.pem that changed, then refuses a peer whose certificate it revokes
 * ("certificate verify failed: certificate revoked"). */
struct wm_tls_ctx *wm_tls_ctx_new(const char *dir, enum wm_tls_side side, char *err, size_t errlen);
void wm_tls_ctx_free(struct wm_tls_ctx *ctx);

/* 0 when DIR/cert.pem is valid now; -EKEYEXPIRED ("... expired on DATE" /
 * "... not valid before DATE") or -errno with err.  Daemons check their own
 * certificate at start: one that peers will refuse anyway is an error to
 * report at once, not at the first connection. */
int wm_tls_own_cert_valid(const char *dir, char *err, size_t errlen);

/* Handshake on fd (ownership of fd passes to the conn: wm_tls_close closes it).
 * On failure returns NULL, closes fd, and says why in err ("peer presented
 * no certificate", "certificate verify failed: unable to get local issuer
 * certificate", "peer refused our certificate (alert: unknown CA)", "peer
 * does not speak TLS 1.3 (…)", "TLS handshake timed out").  A handshake on
 * an fd without SO_RCVTIMEO is bounded at 30 s all the same. */
struct wm_tls_conn *wm_tls_connect(struct wm_tls_ctx *ctx, int fd, char *err, size_t errlen);
struct wm_tls_conn *wm_tls_accept(struct wm_tls_ctx *ctx, int fd, char *err, size_t errlen);

/* Exactly len bytes, or an error: 0 ok, -EPIPE/-ECONNRESET (peer gone),
 * -ETIMEDOUT, -EPROTO (TLS error).  read_full returns -ENODATA on a clean
 * EOF before the first byte. */
int wm_tls_write_full(struct wm_tls_conn *c, const void *buf, size_t len);
int wm_tls_read_full(struct wm_tls_conn *c, void *buf, size_t len);

/* The peer certificate's common name and role ("agent", "receiver",
 * "worker", or "" if the certificate carries none).  Borrowed. */
const char *wm_tls_peer_name(const struct wm_tls_conn *c);
const char *wm_tls_peer_role(const struct wm_tls_conn *c);

/* The peer certificate's binding to a source (pki.h): its server ("" if
 * none) and how many volumes it names.  wm_tls_peer_may_volume() is true
 * for a named volume, or for any volume when the certificate names none
 * (an unbound certificate: callers decide whether they accept those). */
const char *wm_tls_peer_server(const struct wm_tls_conn *c);
size_t wm_tls_peer_volumes(const struct wm_tls_conn *c);
bool wm_tls_peer_may_volume(const struct wm_tls_conn *c, const char *volume);

/* Why the last read/write failed ("timed out", "peer closed the connection",
 * OpenSSL's reason), "" while healthy.  Borrowed. */
const char *wm_tls_last_error(const struct wm_tls_conn *c);

int wm_tls_fd(const struct wm_tls_conn *c);
/* Sends close_notify (best effort), closes the fd, frees.  NULL ok. */
void wm_tls_close(struct wm_tls_conn *c);

/* --- sockets (plain TCP helpers shared by agent, receiver and workers) --- */

/* Addresses are "HOST:PORT", "[IPV6]:PORT", or ":PORT" / "*:PORT" (any).
 * "HOST:PORT" → listening socket on it (SO_REUSEADDR).  -errno with err. */
int wm_tcp_listen(const char *hostport, int backlog, char *err, size_t errlen);
/* Connects with a timeout; sets TCP_NODELAY and io timeouts (ms, 0 = none). */
int wm_tcp_connect(const char *hostport, int connect_timeout_ms, int io_timeout_ms, char *err,
                   size_t errlen);
/* accept() on listen_fd (retrying EINTR); sets TCP_NODELAY and io timeouts
 * (ms, 0 = none).  A new fd, or -errno with err. */
int wm_tcp_accept(int listen_fd, int io_timeout_ms, char *err, size_t errlen);
/* SO_RCVTIMEO and SO_SNDTIMEO in ms (0 = none).  0 or -errno. */
int wm_tcp_set_timeouts(int fd, int io_timeout_ms);
/* The local port of a bound socket (e.g. after listening on port 0). */
int wm_tcp_local_port(int fd);

#endif
