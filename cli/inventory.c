/* inventory — CSV records → validated inv_rows (see inventory.h). */
#include "inventory.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum inv_col {
    COL_WAVE, COL_APP, COL_SERVER, COL_FQDN, COL_OS_FAMILY, COL_OS_VERSION,
    COL_SRC_HOST, COL_SRC_PORT, COL_SRC_USER, COL_CREDENTIAL, COL_DISKS,
    COL_PROVIDER, COL_INSTANCE, COL_SUBNET, COL_SGS, COL_TEST_SGS, COL_TAGS,
    COL_N
};

static const struct {
    const char *name;
    bool required;
} columns[COL_N] = {
    [COL_WAVE] = {"wave_name", true},
    [COL_APP] = {"app_name", true},
    [COL_SERVER] = {"server_name", true},
    [COL_FQDN] = {"server_fqdn", false},
    [COL_OS_FAMILY] = {"server_os_family", true},
    [COL_OS_VERSION] = {"server_os_version", false},
    [COL_SRC_HOST] = {"source_host", true},
    [COL_SRC_PORT] = {"source_port", false},
    [COL_SRC_USER] = {"source_user", false},
    [COL_CREDENTIAL] = {"credential", false},
    [COL_DISKS] = {"disks", false},
    [COL_PROVIDER] = {"target_provider", true},
    [COL_INSTANCE] = {"instance_type", false},
    [COL_SUBNET] = {"subnet_id", false},
    [COL_SGS] = {"security_group_ids", false},
    [COL_TEST_SGS] = {"test_security_group_ids", false},
    [COL_TAGS] = {"tags", false},
};

/* Parsing state: where the first error goes and how many followed. */
struct pctx {
    const char *name;
    char *err;
    size_t errlen;
    long nerrors;
    bool oom;
    int colmap[INV_MAX_FIELDS]; /* field index -> enum inv_col, -1 ignored */
    int nhdr;
    int line;
};

__attribute__((format(printf, 3, 4))) static void fail(struct pctx *x, int col, const char *fmt,
                                                         ...)
{
    if (x->nerrors++ > 0)
        return;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (col >= 0)
        snprintf(x->err, x->errlen, "%s:%d: column %s: %s", x->name, x->line, columns[col].name,
                 why);
    else
        snprintf(x->err, x->errlen, "%s:%d: %s", x->name, x->line, why);
}

static char *dup_or_oom(struct pctx *x, const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        x->oom = true;
    return d;
}

/* Trimmed view of s: *len bytes from the returned pointer. */
static const char *trim(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    *len = n;
    return s;
}

static bool has_ctrl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/* Every byte is alphanumeric or in extra. */
static bool only_chars(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
            return false;
    return true;
}

/* --- header --- */

static int find_column(const char *name, size_t n)
{
    for (int i = 0; i < COL_N; i++)
        if (strlen(columns[i].name) == n && strncasecmp(columns[i].name, name, n) == 0)
            return i;
    return -1;
}

static int parse_header(struct pctx *x, char **fields, int nfields, unsigned flags)
{
    bool seen[COL_N] = {0};
    x->nhdr = nfields;
    for (int i = 0; i < nfields; i++) {
        size_t n;
        const char *h = trim(fields[i], &n);
        int col = find_column(h, n);
        x->colmap[i] = col;
        if (col < 0 && !(flags & INV_IGNORE_UNKNOWN))
            fail(x, -1, "unknown column '%.*s' (use --ignore-unknown to skip it)", (int)n, h);
        else if (col >= 0 && seen[col])
            fail(x, -1, "column '%s' appears twice", columns[col].name);
        if (col >= 0)
            seen[col] = true;
    }
    for (int i = 0; i < COL_N; i++)
        if (columns[i].required && !seen[i])
            fail(x, -1, "required column '%s' missing from the header", columns[i].name);
    return x->nerrors ? -EINVAL : 0;
}

/* --- single-value cells --- */

/* Checked copy of a text cell; NULL (error recorded) when bad.  Empty is
 * fine unless required; "" is stored for empty. */
static char *text_cell(struct pctx *x, int col, const char *raw, bool required, size_t max,
                       const char *extra)
{
    size_t n;
    const char *s = trim(raw ? raw : "", &n);
    if (n == 0 && required) {
        fail(x, col, "required value is empty");
        return NULL;
    }
    if (n > max) {
        fail(x, col, "longer than %zu bytes", max);
        return NULL;
    }
    if (has_ctrl(s, n)) {
        fail(x, col, "control character in value");
        return NULL;
    }
    if (extra && n && !only_chars(s, n, extra)) {
        fail(x, col, "'%.*s' may only hold letters, digits and '%s'", (int)n, s, extra);
        return NULL;
    }
    return dup_or_oom(x, s, n);
}

/* Lower-cased value that must be one of the NULL-terminated allowed list. */
static char *enum_cell(struct pctx *x, int col, const char *raw, const char *const *allowed,
                       const char *allowed_text)
{
    size_t n;
    const char *s = trim(raw ? raw : "", &n);
    for (size_t i = 0; allowed[i]; i++) {
        if (strlen(allowed[i]) == n && strncasecmp(allowed[i], s, n) == 0)
            return dup_or_oom(x, allowed[i], strlen(allowed[i]));
    }
    if (n == 0)
        fail(x, col, "required value is empty (one of %s)", allowed_text);
    else
        fail(x, col, "'%.*s' is not one of %s", (int)(n > 64 ? 64 : n), s, allowed_text);
    return NULL;
}

static int port_cell(struct pctx *x, const char *raw)
{
    size_t n;
    const char *s = trim(raw ? raw : "", &n);
    if (n == 0)
        return 22;
    long v = 0;
    bool digits = n <= 6;
    for (size_t i = 0; i < n && digits; i++) {
        if (!isdigit((unsigned char)s[i]))
            digits = false;
        else
            v = v * 10 + (s[i] - '0');
    }
    if (!digits || v < 1 || v > 65535) {
        fail(x, COL_SRC_PORT, "'%.*s' is not a port (1-65535)", (int)(n > 64 ? 64 : n), s);
        return -1;
    }
    return (int)v;
}

/* --- multi-value cells --- */

/* Splits a ';' list into trimmed, non-empty items (pointers into a copy
 * owned by *store).  Returns the count or -1 (error recorded). */
static int split_items(struct pctx *x, int col, const char *raw, char **store,
                       char *items[INV_MAX_ITEMS])
{
    *store = strdup(raw ? raw : "");
    if (!*store) {
        x->oom = true;
        return -1;
    }
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(*store, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        size_t len;
        const char *t = trim(tok, &len);
        if (len == 0)
            continue;
        if (n == INV_MAX_ITEMS) {
            fail(x, col, "more than %d values", INV_MAX_ITEMS);
            return -1;
        }
        ((char *)t)[len] = '\0';
        items[n++] = (char *)t;
    }
    return n;
}

static char **list_cell(struct pctx *x, int col, const char *raw, size_t *count)
{
    char *store, *items[INV_MAX_ITEMS];
    *count = 0;
    int n = split_items(x, col, raw, &store, items);
    char **out = n > 0 ? calloc((size_t)n, sizeof(*out)) : NULL;
    if (n > 0 && !out)
        x->oom = true;
    for (int i = 0; out && i < n; i++) {
        if (strlen(items[i]) > INV_MAX_NAME || !only_chars(items[i], strlen(items[i]), "-_.:/")) {
            fail(x, col, "'%.64s' is not an id (letters, digits, '-_.:/')", items[i]);
            break;
        }
        out[(*count)++] = dup_or_oom(x, items[i], strlen(items[i]));
    }
    free(store);
    return out;
}

static bool tag_ok(struct pctx *x, const char *item, const char *eq, struct inv_tag *tags,
                   size_t ntags)
{
    size_t klen;
    if (!eq) {
        fail(x, COL_TAGS, "'%.64s' is not key=value", item);
        return false;
    }
    char key[INV_MAX_NAME + 1];
    const char *k = trim(strndupa(item, (size_t)(eq - item)), &klen);
    if (klen == 0 || klen > 128) {
        fail(x, COL_TAGS, "'%.64s': key must be 1-128 bytes", item);
        return false;
    }
    memcpy(key, k, klen);
    key[klen] = '\0';
    if (has_ctrl(eq + 1, strlen(eq + 1)) || strlen(eq + 1) > 256) {
        fail(x, COL_TAGS, "'%.64s': value must be at most 256 printable bytes", item);
        return false;
    }
    for (size_t i = 0; i < ntags; i++) {
        if (strcmp(tags[i].key, key) == 0) {
            fail(x, COL_TAGS, "key '%s' given twice", key);
            return false;
        }
    }
    return true;
}

static struct inv_tag *tags_cell(struct pctx *x, const char *raw, size_t *count)
{
    char *store, *items[INV_MAX_ITEMS];
    *count = 0;
    int n = split_items(x, COL_TAGS, raw, &store, items);
    struct inv_tag *out = n > 0 ? calloc((size_t)n, sizeof(*out)) : NULL;
    if (n > 0 && !out)
        x->oom = true;
    for (int i = 0; out && i < n; i++) {
        const char *eq = strchr(items[i], '=');
        if (!tag_ok(x, items[i], eq, out, *count))
            break;
        size_t klen, vlen;
        const char *k = trim(strndupa(items[i], (size_t)(eq - items[i])), &klen);
        const char *v = trim(eq + 1, &vlen);
        out[*count].key = dup_or_oom(x, k, klen);
        out[*count].value = dup_or_oom(x, v, vlen);
        (*count)++;
    }
    free(store);
    return out;
}

/* "123", "100G", "4KiB", "2tb" -> bytes; -1 if s is not a size. */
static int64_t parse_size(const char *s)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    int shift = 0;
    const char *units = "KMGT";
    const char *u = *s ? strchr(units, toupper((unsigned char)*s)) : NULL;
    if (u) {
        shift = 10 * (int)(u - units + 1);
        s++;
        if (*s == 'i' || *s == 'I')
            s++;
    }
    if (*s == 'b' || *s == 'B')
        s++;
    if (*s || (shift && v > ((uint64_t)INT64_MAX >> shift)) || v > (uint64_t)INT64_MAX)
        return -1;
    return (int64_t)(v << shift);
}

static struct inv_disk *disks_cell(struct pctx *x, const char *raw, size_t *count)
{
    char *store, *items[INV_MAX_ITEMS];
    *count = 0;
    int n = split_items(x, COL_DISKS, raw, &store, items);
    struct inv_disk *out = n > 0 ? calloc((size_t)n, sizeof(*out)) : NULL;
    if (n > 0 && !out)
        x->oom = true;
    for (int i = 0; out && i < n; i++) {
        char *colon = strrchr(items[i], ':');
        int64_t size = colon ? parse_size(colon + 1) : -1;
        size_t plen = size >= 0 ? (size_t)(colon - items[i]) : strlen(items[i]);
        if (plen == 0 || plen > INV_MAX_PATH || has_ctrl(items[i], plen)) {
            fail(x, COL_DISKS, "'%.64s' is not a disk path", items[i]);
            break;
        }
        bool dup = false;
        for (size_t k = 0; k < *count && !dup; k++)
            dup = strlen(out[k].path) == plen && strncmp(out[k].path, items[i], plen) == 0;
        if (dup) {
            fail(x, COL_DISKS, "disk '%.*s' listed twice", (int)plen, items[i]);
            break;
        }
        out[*count].path = dup_or_oom(x, items[i], plen);
        out[*count].size = size;
        (*count)++;
    }
    free(store);
    return out;
}

/* --- rows --- */

static const char *const os_families[] = {"linux", "windows", NULL};
static const char *const providers[] = {"sim", "aws", "exec", "libvirt", NULL};

#define NAME_CHARS "-_."
#define HOST_CHARS "-_.:[]"

static void fill_row(struct pctx *x, const char *cell[COL_N], struct inv_row *r)
{
    r->line = x->line;
    r->wave = text_cell(x, COL_WAVE, cell[COL_WAVE], true, 128, NULL);
    r->app = text_cell(x, COL_APP, cell[COL_APP], true, 128, NULL);
    r->server = text_cell(x, COL_SERVER, cell[COL_SERVER], true, INV_MAX_NAME, NAME_CHARS);
    r->fqdn = text_cell(x, COL_FQDN, cell[COL_FQDN], false, INV_MAX_NAME, NAME_CHARS);
    r->os_family = enum_cell(x, COL_OS_FAMILY, cell[COL_OS_FAMILY], os_families,
                             "linux, windows");
    r->os_version = text_cell(x, COL_OS_VERSION, cell[COL_OS_VERSION], false, INV_MAX_NAME, NULL);
    r->source_host = text_cell(x, COL_SRC_HOST, cell[COL_SRC_HOST], true, INV_MAX_NAME,
                               HOST_CHARS);
    r->source_port = port_cell(x, cell[COL_SRC_PORT]);
    r->source_user = text_cell(x, COL_SRC_USER, cell[COL_SRC_USER], false, INV_MAX_NAME,
                               "-_.@\\$");
    r->credential = text_cell(x, COL_CREDENTIAL, cell[COL_CREDENTIAL], false, INV_MAX_NAME,
                              "-_./:");
    r->provider =
        enum_cell(x, COL_PROVIDER, cell[COL_PROVIDER], providers, "sim, aws, exec, libvirt");
    r->instance_type = text_cell(x, COL_INSTANCE, cell[COL_INSTANCE], false, INV_MAX_NAME,
                                 "-_.");
    r->subnet_id = text_cell(x, COL_SUBNET, cell[COL_SUBNET], false, INV_MAX_NAME, "-_.:/");
    r->sgs = list_cell(x, COL_SGS, cell[COL_SGS], &r->nsgs);
    r->test_sgs = list_cell(x, COL_TEST_SGS, cell[COL_TEST_SGS], &r->ntest_sgs);
    r->tags = tags_cell(x, cell[COL_TAGS], &r->ntags);
    r->disks = disks_cell(x, cell[COL_DISKS], &r->ndisks);
}

static int parse_row(struct pctx *x, char **fields, int nfields, struct inv_row *r)
{
    const char *cell[COL_N] = {0};
    if (nfields != x->nhdr) {
        fail(x, -1, "%d fields, the header has %d", nfields, x->nhdr);
        return -EINVAL;
    }
    for (int i = 0; i < nfields; i++)
        if (x->colmap[i] >= 0)
            cell[x->colmap[i]] = fields[i];
    long before = x->nerrors;
    fill_row(x, cell, r);
    return x->nerrors > before ? -EINVAL : 0;
}

/* --- cross-row checks --- */

struct name_ent {
    const char *name;
    size_t row;
};

static int cmp_name(const void *a, const void *b)
{
    const struct name_ent *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->row < y->row ? -1 : x->row > y->row);
}

/* Sorted (name, row) pairs of rows whose field at offset is set. */
static struct name_ent *sorted_names(const struct inv_file *f, size_t offset)
{
    struct name_ent *v = calloc(f->nrows ? f->nrows : 1, sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < f->nrows; i++) {
        v[i].name = *(char **)((char *)&f->rows[i] + offset);
        v[i].row = i;
    }
    qsort(v, f->nrows, sizeof(*v), cmp_name);
    return v;
}

/* Duplicate server names, and applications listed under two waves. */
static void cross_checks(struct pctx *x, const struct inv_file *f)
{
    struct name_ent *s = sorted_names(f, offsetof(struct inv_row, server));
    struct name_ent *a = sorted_names(f, offsetof(struct inv_row, app));
    if (!s || !a) {
        x->oom = true;
        goto out;
    }
    for (size_t i = 1; i < f->nrows; i++) {
        if (strcmp(s[i].name, s[i - 1].name) == 0) {
            x->line = f->rows[s[i].row].line;
            fail(x, COL_SERVER, "server '%s' already on line %d", s[i].name,
                 f->rows[s[i - 1].row].line);
        }
        const struct inv_row *r = &f->rows[a[i].row], *p = &f->rows[a[i - 1].row];
        if (strcmp(a[i].name, a[i - 1].name) == 0 && strcmp(r->wave, p->wave) != 0) {
            x->line = r->line;
            fail(x, COL_APP, "application '%s' is in wave '%s' on line %d; an application "
                 "belongs to one wave", r->app, p->wave, p->line);
        }
    }
out:
    free(s);
    free(a);
}

/* --- file --- */

static void row_free(struct inv_row *r)
{
    char **strs[] = {&r->wave, &r->app, &r->server, &r->fqdn, &r->os_family, &r->os_version,
                     &r->source_host, &r->source_user, &r->credential, &r->provider,
                     &r->instance_type, &r->subnet_id};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    for (size_t i = 0; i < r->nsgs; i++)
        free(r->sgs[i]);
    free(r->sgs);
    for (size_t i = 0; i < r->ntest_sgs; i++)
        free(r->test_sgs[i]);
    free(r->test_sgs);
    for (size_t i = 0; i < r->ntags; i++) {
        free(r->tags[i].key);
        free(r->tags[i].value);
    }
    free(r->tags);
    for (size_t i = 0; i < r->ndisks; i++)
        free(r->disks[i].path);
    free(r->disks);
}

void inv_free(struct inv_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nrows; i++)
        row_free(&f->rows[i]);
    free(f->rows);
    free(f->name);
    free(f);
}

static int add_row(struct pctx *x, struct inv_file *f, size_t *cap, char **fields, int nfields)
{
    if (f->nrows == INV_MAX_ROWS) {
        fail(x, -1, "more than %d rows", INV_MAX_ROWS);
        return -E2BIG;
    }
    if (f->nrows == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct inv_row *nr = realloc(f->rows, ncap * sizeof(*nr));
        if (!nr)
            return -ENOMEM;
        f->rows = nr;
        *cap = ncap;
    }
    struct inv_row *r = &f->rows[f->nrows++];
    memset(r, 0, sizeof(*r));
    parse_row(x, fields, nfields, r);
    return x->oom ? -ENOMEM : 0;
}

/* Reads every record; structural CSV errors stop at once, row errors are
 * counted so the message can say how many more there are. */
static int read_records(struct pctx *x, struct inv_csv *c, struct inv_file *f, unsigned flags)
{
    char **fields;
    int nfields, line, rc;
    size_t cap = 0;
    bool header = true;
    while ((rc = inv_csv_next(c, &fields, &nfields, &line, x->err, x->errlen)) == 1) {
        x->line = line;
        if (header) {
            header = false;
            if (parse_header(x, fields, nfields, flags))
                return -EINVAL;
            continue;
        }
        if ((rc = add_row(x, f, &cap, fields, nfields)) != 0)
            return rc;
    }
    if (rc < 0) {
        /* the reader's message is "LINE: why"; prefix the file name */
        char why[512];
        snprintf(why, sizeof(why), "%s", x->err);
        snprintf(x->err, x->errlen, "%s:%s", x->name, why);
        return rc;
    }
    if (header) {
        snprintf(x->err, x->errlen, "%s: empty file (a header row is required)", x->name);
        return -EINVAL;
    }
    return 0;
}

struct inv_file *inv_parse(const char *name, const char *buf, size_t len, unsigned flags,
                           char *err, size_t errlen)
{
    struct pctx x = {.name = name, .err = err, .errlen = errlen};
    struct inv_file *f = calloc(1, sizeof(*f));
    struct inv_csv *c = inv_csv_new(buf, len);
    int rc = -ENOMEM;
    if (f && c && (f->name = strdup(name)) != NULL) {
        rc = read_records(&x, c, f, flags);
        if (rc == 0 && x.nerrors == 0)
            cross_checks(&x, f);
    }
    inv_csv_free(c);
    if (rc == -ENOMEM || x.oom) {
        snprintf(err, errlen, "%s: out of memory", name);
        rc = -ENOMEM;
    } else if (rc == 0 && x.nerrors > 0) {
        size_t n = strlen(err);
        if (x.nerrors > 1)
            snprintf(err + n, errlen - n, " (and %ld more error%s)", x.nerrors - 1,
                     x.nerrors > 2 ? "s" : "");
        rc = -EINVAL;
    }
    if (rc) {
        inv_free(f);
        return NULL;
    }
    return f;
}

struct inv_file *inv_load(const char *path, unsigned flags, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && st.st_size > (off_t)INV_MAX_FILE_BYTES) {
        snprintf(err, errlen, "%s: file larger than %u bytes", path, INV_MAX_FILE_BYTES);
        fclose(fp);
        return NULL;
    }
    /* read one byte past the bound so a growing file or a pipe is caught too */
    char *buf = malloc(INV_MAX_FILE_BYTES + 1);
    size_t n = buf ? fread(buf, 1, INV_MAX_FILE_BYTES + 1, fp) : 0;
    int rerr = ferror(fp);
    fclose(fp);
    struct inv_file *f = NULL;
    if (!buf)
        snprintf(err, errlen, "%s: out of memory", path);
    else if (rerr)
        snprintf(err, errlen, "%s: read error", path);
    else if (n > INV_MAX_FILE_BYTES)
        snprintf(err, errlen, "%s: file larger than %u bytes", path, INV_MAX_FILE_BYTES);
    else
        f = inv_parse(path, buf, n, flags, err, errlen);
    free(buf);
    return f;
}
