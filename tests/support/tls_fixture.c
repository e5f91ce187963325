/* tls_fixture — throwaway PKIs for tests (see tls_fixture.h). */
#include "tls_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pki.h"

int tls_fixture_new(char *root, size_t rootlen)
{
    const char *tmp = getenv("TMPDIR");
    char err[512];
    if (snprintf(root, rootlen, "%s/wm-tls-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") >= (int)rootlen)
        return -ENAMETOOLONG;
    if (mkdtemp(root) == NULL)
        return -errno;
    int rc = wm_pki_init(root, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "tls_fixture_new: %s\n", err);
        tls_fixture_free(root);
    }
    return rc;
}

int tls_fixture_issue(const char *root, const char *name, const char *role, int days,
                      long backdate_s)
{
    struct wm_pki_issue_req req = {
        .name = name, .role = role, .days = days, .sans = NULL, .backdate_s = backdate_s};
    char err[512];
    int rc = wm_pki_issue(root, &req, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "tls_fixture_issue: %s\n", err);
    return rc;
}

int tls_fixture_trust(const char *dir, const char *root_from)
{
    char src[4096], dst[4096], buf[8192];
    snprintf(src, sizeof(src), "%s/ca.crt", root_from);
    snprintf(dst, sizeof(dst), "%s/ca.crt", dir);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return -e;
    }
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            rc = -EIO;
    if (n < 0)
        rc = -errno;
    close(in);
    close(out);
    return rc;
}

static int fixture_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tls_fixture_free(const char *root)
{
    if (root == NULL || root[0] == '\0')
        return;
    nftw(root, fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
}
