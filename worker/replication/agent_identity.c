/* agent_identity — see agent_identity.h */
#include "replication/agent_identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "pki.h"

#define ID_PATH_MAX 4096

static int identity_name(const char *server, char *name, size_t cap, char *err, size_t errlen)
{
    if (snprintf(name, cap, "agent-%s", server) >= (int)cap || !wm_pki_name_valid(name)) {
        snprintf(err, errlen, "server name '%.100s' cannot name a certificate", server);
        return -EINVAL;
    }
    return 0;
}

/* "vol\nvol\n..." of the volumes, as recorded next to the certificate. */
static void bindings_text(const char *const *v, size_t n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s\n", v[i]);
}

/* Whether the identity in dir is still good: issued for these volumes and
 * not expiring within AGENT_IDENTITY_RENEW_DAYS. */
static bool identity_current(const char *dir, const char *want)
{
    char p[ID_PATH_MAX], have[8192] = "";
    snprintf(p, sizeof(p), "%s/bound.txt", dir);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(have, 1, sizeof(have) - 1, f) : 0;
    if (f)
        fclose(f);
    have[n] = '\0';
    if (strcmp(have, want) != 0)
        return false;
    snprintf(p, sizeof(p), "%s/cert.pem", dir);
    f = fopen(p, "r");
    X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    int days = 0, secs = 0;
    bool ok = c && ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c)) &&
              days >= AGENT_IDENTITY_RENEW_DAYS;
    X509_free(c);
    return ok;
}

/* Removes the files of an identity folder and the folder. */
static void identity_remove(const char *dir)
{
    static const char *const files[] = {"cert.pem", "key.pem", "ca.crt", "crl.pem", "bound.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[ID_PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static int identity_issue(const char *pki_dir, const char *name, const char *server,
                          const char *const *volumes, size_t n, const char *dir, const char *text,
                          char *err, size_t errlen)
{
    struct wm_pki_issue_req req = {
        .name = name, .role = "agent", .server = server, .volumes = volumes, .nvolumes = n};
    int rc = wm_pki_issue(pki_dir, &req, err, errlen);
    char p[ID_PATH_MAX];
    snprintf(p, sizeof(p), "%s/bound.txt", dir);
    FILE *f = rc == 0 ? fopen(p, "w") : NULL;
    if (rc == 0 && (!f || fputs(text, f) < 0)) {
        snprintf(err, errlen, "cannot write %s", p);
        rc = -EIO;
    }
    if (f)
        fclose(f);
    return rc;
}

int agent_identity_ensure(const char *pki_dir, const char *server, const char *const *volumes,
                          size_t nvolumes, char *tls_dir, size_t cap, bool *renewed, char *err,
                          size_t errlen)
{
    char name[128], text[8192];
    *renewed = false;
    int rc = identity_name(server, name, sizeof(name), err, errlen);
    if (rc < 0)
        return rc;
    snprintf(tls_dir, cap, "%s/%s", pki_dir, name);
    bindings_text(volumes, nvolumes, text, sizeof(text));
    if (identity_current(tls_dir, text))
        return 0;
    if (access(tls_dir, F_OK) == 0) { /* stale: revoke, then replace */
        if ((rc = wm_pki_revoke(pki_dir, name, err, errlen)) < 0 && rc != -ENOENT)
            return rc;
        identity_remove(tls_dir);
    }
    rc = identity_issue(pki_dir, name, server, volumes, nvolumes, tls_dir, text, err, errlen);
    if (rc == 0) {
        *renewed = true;
        wm_info("repl.agent_identity_issued", "server=%s volumes=%zu dir=%s", server, nvolumes,
                tls_dir);
    }
    return rc;
}

int agent_identity_revoke(const char *pki_dir, const char *server, char *err, size_t errlen)
{
    char name[128], dir[ID_PATH_MAX];
    int rc = identity_name(server, name, sizeof(name), err, errlen);
    if (rc < 0)
        return rc;
    snprintf(dir, sizeof(dir), "%s/%s/cert.pem", pki_dir, name);
    if (access(dir, F_OK) != 0)
        return 0;
    rc = wm_pki_revoke(pki_dir, name, err, errlen);
    if (rc == 0)
        wm_info("repl.agent_identity_revoked", "server=%s", server);
    return rc;
}
