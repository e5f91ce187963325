/* volstate — atomic text state file (see volstate.h). */
#include "volstate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void hex16(const uint8_t *b, char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int unhex16(const char *s, uint8_t *b)
{
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        b[i] = (uint8_t)v;
    }
    return 0;
}

static int volstate_line(struct volstate *st, const char *k, const char *v, uint16_t *nr)
{
    uint64_t a, b, c, j = 0;
    if (strcmp(k, "range") == 0) {
        if (*nr >= PROTO_MAX_RANGES ||
            sscanf(v, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &a, &b, &c, &j) < 3)
            return -1;
        st->jlen[*nr] = j;
        st->ranges[(*nr)++] = (struct proto_range){a, b, c};
        return 0;
    }
    if (strcmp(k, "uuid") == 0)
        return unhex16(v, st->uuid);
    if (sscanf(v, "%" SCNu64, &a) != 1)
        return -1;
    if (strcmp(k, "committed_gen") == 0)
        st->committed_gen = a;
    else if (strcmp(k, "committed_size") == 0)
        st->committed_size = a;
    else if (strcmp(k, "committed_bs") == 0)
        st->committed_bs = (uint32_t)a;
    else if (strcmp(k, "epoch") == 0)
        st->epoch = a;
    else if (strcmp(k, "pending") == 0)
        st->pending = (int)a;
    else if (strcmp(k, "applying") == 0)
        st->applying = (int)a;
    else if (strcmp(k, "pending_gen") == 0)
        st->pending_gen = a;
    else if (strcmp(k, "pending_size") == 0)
        st->pending_size = a;
    else if (strcmp(k, "pending_bs") == 0)
        st->pending_bs = (uint32_t)a;
    else if (strcmp(k, "mode") == 0)
        st->mode = (uint8_t)a;
    else if (strcmp(k, "nranges") == 0)
        st->nranges = (uint16_t)a;
    return 0;
}

int volstate_load(const char *path, struct volstate *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        return -errno;
    }
    char line[256], k[64], v[192];
    uint16_t nr = 0;
    int bad = 0, first = 1;
    while (fgets(line, sizeof(line), f)) {
        if (first && strncmp(line, "wavemill-volume 1", 17) != 0)
            bad = 1;
        first = 0;
        if (sscanf(line, "%63s %191[^\n]", k, v) == 2 && volstate_line(st, k, v, &nr) < 0)
            bad = 1;
    }
    fclose(f);
    if (bad || first || nr != st->nranges) {
        snprintf(err, errlen, "state file %s is corrupt", path);
        return -EINVAL;
    }
    return 0;
}

static int volstate_write(FILE *f, const struct volstate *st)
{
    char u[33];
    hex16(st->uuid, u);
    fprintf(f,
            "wavemill-volume 1\ncommitted_gen %" PRIu64 "\ncommitted_size %" PRIu64
            "\ncommitted_bs %" PRIu32 "\nuuid %s\nepoch %" PRIu64 "\npending %d\napplying %d\n",
            st->committed_gen, st->committed_size, st->committed_bs, u, st->epoch, st->pending,
            st->applying);
    fprintf(f,
            "pending_gen %" PRIu64 "\npending_size %" PRIu64 "\npending_bs %" PRIu32
            "\nmode %u\nnranges %u\n",
            st->pending_gen, st->pending_size, st->pending_bs, st->mode, st->nranges);
    for (uint16_t i = 0; i < st->nranges; i++)
        fprintf(f, "range %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", st->ranges[i].start,
                st->ranges[i].end, st->ranges[i].done, st->jlen[i]);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        return -errno;
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int volstate_save(const char *path, const struct volstate *st, char *err, size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* 0600: a volume's state (uuid, generations) is the receiver's own */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "create %s: %s", tmp, strerror(e));
        return -e;
    }
    fchmod(fd, 0600); /* an older 0644 temp file keeps its mode under O_TRUNC */
    int rc = volstate_write(f, st);
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc < 0) {
        snprintf(err, errlen, "write %s: %s", path, strerror(-rc));
        unlink(tmp);
        return rc;
    }
    fsync_dir_of(path);
    return 0;
}

uint16_t volstate_split(uint64_t size, uint32_t bs, uint16_t n, struct proto_range *out)
{
    uint64_t nb = (size + bs - 1) / bs;
    if (n == 0)
        n = 1;
    if (nb < n)
        n = nb ? (uint16_t)nb : 1;
    uint64_t per = nb ? (nb + n - 1) / n : 0;
    uint16_t k = 0;
    for (uint16_t i = 0; i < n; i++) {
        uint64_t s = (uint64_t)i * per * bs, e = (uint64_t)(i + 1) * per * bs;
        if (s > size)
            s = size;
        if (e > size || i == n - 1)
            e = size;
        if (s == e && k > 0)
            break;
        out[k++] = (struct proto_range){s, e, s};
    }
    return k;
}
