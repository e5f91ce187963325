/* inventory — CSV records → validated inv_rows (see inventory.h). */
#include "inventory.h"

#include "pgarr.h"
#include "srvset.h"

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

/* Where a field of the file goes. */
enum tgt_kind {
    TGT_NONE,      /* ignored (INV_IGNORE_UNKNOWN) */
    TGT_COL,       /* a native column */
    TGT_SETTING,   /* a per-server setting (key) */
    TGT_TAG,       /* a tag (key) */
    TGT_FQDN_HOST, /* cmf server_fqdn: server_fqdn and source_host */
    TGT_ONE,       /* cmf list of which wavemill takes one: column col, or setting key */
};

struct target {
    enum tgt_kind kind;
    int col;
    const char *key;
    char hdr[64]; /* the name in the file, for messages */
};

/* Parsing state: the errors so far (one per line in err) and the header. */
struct pctx {
    const char *name;
    char *err;
    size_t errlen, errpos;
    long nerrors;
    bool oom;
    const struct inv_opts *o;
    struct target tgt[INV_MAX_FIELDS]; /* per field of the header */
    const char *colname[COL_N];        /* the file's name of each native column */
    int nhdr;
    int line;
};

/* Appends "FILE:LINE: [column NAME: ]why" as a line of err, up to
 * INV_MAX_ERRORS lines; later ones are only counted. */
__attribute__((format(printf, 3, 4))) static void fail_named(struct pctx *x, const char *colname,
                                                             const char *fmt, ...)
{
    if (x->nerrors++ >= INV_MAX_ERRORS || x->errpos + 1 >= x->errlen)
        return;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    char *at = x->err + x->errpos;
    size_t room = x->errlen - x->errpos;
    int n = colname ? snprintf(at, room, "%s%s:%d: column %s: %s", x->errpos ? "\n" : "",
                               x->name, x->line, colname, why)
                    : snprintf(at, room, "%s%s:%d: %s", x->errpos ? "\n" : "", x->name, x->line,
                               why);
    x->errpos += n > 0 && (size_t)n < room ? (size_t)n : room - 1;
}

/* fail(x, COL, ...): an error of a native column, named as in the file */
#define fail(x, col, ...)                                                                          \
    fail_named((x),                                                                                \
               (col) >= 0 ? ((x)->colname[(col)] ? (x)->colname[(col)] : columns[(col)].name)      \
                          : NULL,                                                                  \
               __VA_ARGS__)

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

/* CMF's server intake columns and where each goes. */
static const struct {
    const char *cmf;
    enum tgt_kind kind;
    int col;
    const char *key;
    const char *goes_to;
} cmf_cols[] = {
    {"wave_name", TGT_COL, COL_WAVE, NULL, "wave_name"},
    {"app_name", TGT_COL, COL_APP, NULL, "app_name"},
    {"aws_region", TGT_SETTING, -1, "aws_region", "setting aws_region"},
    {"aws_accountid", TGT_SETTING, -1, "aws_account_id", "setting aws_account_id"},
    {"server_name", TGT_COL, COL_SERVER, NULL, "server_name"},
    {"server_os_family", TGT_COL, COL_OS_FAMILY, NULL, "server_os_family"},
    {"server_os_version", TGT_COL, COL_OS_VERSION, NULL, "server_os_version"},
    {"server_fqdn", TGT_FQDN_HOST, COL_FQDN, NULL, "server_fqdn and source_host"},
    {"server_tier", TGT_TAG, -1, "tier", "tag tier"},
    {"server_environment", TGT_TAG, -1, "environment", "tag environment"},
    {"r_type", TGT_TAG, -1, "r_type", "tag r_type"},
    {"subnet_IDs", TGT_ONE, COL_SUBNET, NULL, "subnet_id (one)"},
    {"securitygroup_IDs", TGT_COL, COL_SGS, NULL, "security_group_ids"},
    {"subnet_IDs_test", TGT_ONE, -1, "test_subnet_id", "setting test_subnet_id (one)"},
    {"securitygroup_IDs_test", TGT_COL, COL_TEST_SGS, NULL, "test_security_group_ids"},
    {"instanceType", TGT_COL, COL_INSTANCE, NULL, "instance_type"},
    {"tenancy", TGT_SETTING, -1, "tenancy", "setting tenancy"},
    {"tags", TGT_COL, COL_TAGS, NULL, "tags"},
};

int inv_cmf_col(size_t i, const char **cmf, const char **goes_to)
{
    if (i >= sizeof(cmf_cols) / sizeof(cmf_cols[0]))
        return -1;
    *cmf = cmf_cols[i].cmf;
    *goes_to = cmf_cols[i].goes_to;
    return 0;
}

/* Where header name h (n bytes) goes: a CMF column (format cmf), a native
 * column, or a per-server setting; TGT_NONE when unknown. */
static struct target find_target(const struct pctx *x, const char *h, size_t n)
{
    struct target t = {.kind = TGT_NONE, .col = -1};
    snprintf(t.hdr, sizeof(t.hdr), "%.*s", (int)(n < 63 ? n : 63), h);
    if (x->o->flags & INV_FORMAT_CMF) {
        for (size_t i = 0; i < sizeof(cmf_cols) / sizeof(cmf_cols[0]); i++)
            if (strlen(cmf_cols[i].cmf) == n && strncasecmp(cmf_cols[i].cmf, h, n) == 0) {
                t.kind = cmf_cols[i].kind, t.col = cmf_cols[i].col, t.key = cmf_cols[i].key;
                return t;
            }
    }
    if ((t.col = find_column(h, n)) >= 0) {
        t.kind = TGT_COL;
        return t;
    }
    const struct wm_srvset *ss = wm_srvset_find(t.hdr);
    if (ss && strlen(ss->key) == n)
        t.kind = TGT_SETTING, t.key = ss->key;
    return t;
}

static void note_ignored(struct pctx *x, struct inv_file *f, const char *h, size_t n)
{
    char **v = realloc(f->ignored, (f->nignored + 1) * sizeof(*v));
    if (!v || !(v[f->nignored] = strndup(h, n))) {
        x->oom = true;
        if (v)
            f->ignored = v;
        return;
    }
    f->ignored = v;
    f->nignored++;
}

/* Which native columns the header provides (a cmf server_fqdn is two). */
static void mark_seen(struct pctx *x, const struct target *t, bool seen[COL_N], int *dup)
{
    int cols[2] = {t->col, t->kind == TGT_FQDN_HOST ? COL_SRC_HOST : -1};
    for (int k = 0; k < 2; k++) {
        if (cols[k] < 0)
            continue;
        if (seen[cols[k]])
            *dup = cols[k];
        seen[cols[k]] = true;
        x->colname[cols[k]] = t->hdr;
    }
}

static int parse_header(struct pctx *x, struct inv_file *f, char **fields, int nfields)
{
    bool seen[COL_N] = {0};
    unsigned flags = x->o->flags;
    x->nhdr = nfields;
    for (int i = 0; i < nfields; i++) {
        size_t n;
        const char *h = trim(fields[i], &n);
        struct target *t = &x->tgt[i];
        *t = find_target(x, h, n);
        int dup = -1;
        if (t->kind == TGT_NONE && !(flags & INV_IGNORE_UNKNOWN))
            fail(x, -1, "unknown column '%.*s' (use --ignore-unknown to skip it)", (int)n, h);
        else if (t->kind == TGT_NONE)
            note_ignored(x, f, h, n);
        mark_seen(x, t, seen, &dup);
        for (int k = 0; k < i && dup < 0 && t->kind != TGT_NONE; k++)
            if (strcasecmp(x->tgt[k].hdr, t->hdr) == 0)
                dup = 0;
        if (dup >= 0)
            fail(x, -1, "column '%s' appears twice", t->hdr);
    }
    if (x->o->provider && !seen[COL_PROVIDER])
        seen[COL_PROVIDER] = true;
    for (int i = 0; i < COL_N; i++)
        if (columns[i].required && !seen[i])
            fail(x, -1, "required column '%s' missing from the header%s", columns[i].name,
                 (flags & INV_FORMAT_CMF) && i == COL_SRC_HOST ? " (format cmf: server_fqdn)"
                                                               : "");
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

/* A disk is a block device or an image file named from the root of the
 * source ("/dev/sdb", "/srv/img/a.raw"), a Windows drive ("C:", "D:\\") or
 * a Windows device ("\\\\.\\PhysicalDrive0"),
 * with no ".." component: a relative or climbing path would be resolved
 * against whatever directory the agent runs in. */
static bool disk_path_ok(const char *p, size_t n)
{
    bool drive = n >= 2 && isalpha((unsigned char)p[0]) && p[1] == ':' &&
                 (n == 2 || p[2] == '\\' || p[2] == '/');
    bool device = n > 2 && p[0] == '\\' && p[1] == '\\'; /* \\.\PhysicalDrive0 */
    if (!drive && !device && p[0] != '/')
        return false;
    for (size_t i = 0; i < n;) {
        size_t k = i;
        while (k < n && p[k] != '/' && p[k] != '\\')
            k++;
        if (k - i == 2 && p[i] == '.' && p[i + 1] == '.')
            return false;
        i = k + 1;
    }
    return true;
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
        if (!disk_path_ok(items[i], plen)) {
            fail(x, COL_DISKS,
                 "disk path '%.*s' must be absolute (/dev/sdb, /srv/images/a.raw, C:) and "
                 "may not contain '..'",
                 (int)(plen > 64 ? 64 : plen), items[i]);
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

/* Tags from cmf columns (tier, environment, r_type) join the tags cell's;
 * a key in both is an error. */
static void merge_tags(struct pctx *x, struct inv_row *r, struct inv_tag *extra, size_t nextra)
{
    struct inv_tag *v = nextra ? realloc(r->tags, (r->ntags + nextra) * sizeof(*v)) : r->tags;
    if (nextra && !v) {
        x->oom = true;
        v = r->tags;
    }
    r->tags = v;
    for (size_t i = 0; i < nextra; i++) {
        bool dup = false;
        for (size_t k = 0; k < r->ntags && !x->oom; k++)
            dup |= strcmp(r->tags[k].key, extra[i].key) == 0;
        if (dup || x->oom) {
            if (dup)
                fail(x, COL_TAGS, "key '%s' is also given by its own column", extra[i].key);
            free(extra[i].key);
            free(extra[i].value);
            continue;
        }
        r->tags[r->ntags++] = extra[i];
    }
    free(extra);
}

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
    size_t nextra = r->ntags;
    struct inv_tag *extra = r->tags;
    r->tags = tags_cell(x, cell[COL_TAGS], &r->ntags);
    merge_tags(x, r, extra, nextra);
    r->disks = disks_cell(x, cell[COL_DISKS], &r->ndisks);
}

/* Appends key=value to a kv list (settings, or tags from cmf columns);
 * a key already there is an error of the field. */
static void kv_add(struct pctx *x, const struct target *t, struct inv_tag **list, size_t *n,
                   const char *key, const char *value, size_t vlen)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].key, key) == 0) {
            fail_named(x, t->hdr, "'%s' is given twice", key);
            return;
        }
    struct inv_tag *v = realloc(*list, (*n + 1) * sizeof(*v));
    if (!v) {
        x->oom = true;
        return;
    }
    *list = v;
    v[*n].key = dup_or_oom(x, key, strlen(key));
    v[*n].value = dup_or_oom(x, value, vlen);
    (*n)++;
}

/* A per-server setting cell: validated like `wavemill server set`. */
static void setting_cell(struct pctx *x, const struct target *t, const char *raw,
                         struct inv_row *r)
{
    size_t n;
    const char *v = trim(raw, &n);
    if (n == 0)
        return;
    char *val = strndupa(v, n), why[320];
    if (wm_srvset_check(wm_srvset_find(t->key), val, why, sizeof(why)) < 0)
        fail_named(x, t->hdr, "%s", why);
    else
        kv_add(x, t, &r->settings, &r->nsettings, t->key, v, n);
}

/* A cmf list of which wavemill takes one value (subnet_IDs): "" or the
 * one item, else an error. */
static const char *one_of_list(struct pctx *x, const struct target *t, const char *raw,
                               char *buf, size_t cap)
{
    char *store, *items[INV_MAX_ITEMS];
    int n = split_items(x, t->col >= 0 ? t->col : COL_SUBNET, raw, &store, items);
    buf[0] = '\0';
    if (n > 1)
        fail_named(x, t->hdr, "%d values ('%.40s;%.40s…'): wavemill launches into one", n,
                   items[0], items[1]);
    else if (n == 1)
        snprintf(buf, cap, "%s", items[0]);
    free(store);
    return buf;
}

/* The fields that are not plain native columns: cmf mappings, settings, tags. */
static void extra_fields(struct pctx *x, char **fields, const char *cell[COL_N],
                         char one[][INV_MAX_NAME + 1], struct inv_row *r)
{
    int nones = 0;
    for (int i = 0; i < x->nhdr; i++) {
        const struct target *t = &x->tgt[i];
        if (t->kind == TGT_SETTING) {
            setting_cell(x, t, fields[i], r);
        } else if (t->kind == TGT_TAG) {
            size_t n;
            const char *v = trim(fields[i], &n);
            if (n > 256)
                fail_named(x, t->hdr, "longer than 256 bytes");
            else if (n)
                kv_add(x, t, &r->tags, &r->ntags, t->key, v, n);
        } else if (t->kind == TGT_ONE && nones < 2) {
            const char *v = one_of_list(x, t, fields[i], one[nones], INV_MAX_NAME + 1);
            if (t->col >= 0) {
                cell[t->col] = v;
            } else if (*v) {
                struct target st = *t;
                st.kind = TGT_SETTING;
                setting_cell(x, &st, v, r);
            }
            nones++;
        }
    }
}

static int parse_row(struct pctx *x, char **fields, int nfields, struct inv_row *r)
{
    const char *cell[COL_N] = {0};
    char one[2][INV_MAX_NAME + 1];
    if (nfields != x->nhdr) {
        fail(x, -1, "%d fields, the header has %d", nfields, x->nhdr);
        return -EINVAL;
    }
    for (int i = 0; i < nfields; i++) {
        const struct target *t = &x->tgt[i];
        if (t->kind == TGT_COL || t->kind == TGT_FQDN_HOST)
            cell[t->col] = fields[i];
        if (t->kind == TGT_FQDN_HOST)
            cell[COL_SRC_HOST] = fields[i];
    }
    if (!cell[COL_PROVIDER] && x->o->provider)
        cell[COL_PROVIDER] = x->o->provider;
    long before = x->nerrors;
    extra_fields(x, fields, cell, one, r);
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
    for (size_t i = 0; i < r->nsettings; i++) {
        free(r->settings[i].key);
        free(r->settings[i].value);
    }
    free(r->settings);
}

void inv_free(struct inv_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nrows; i++)
        row_free(&f->rows[i]);
    free(f->rows);
    for (size_t i = 0; i < f->nignored; i++)
        free(f->ignored[i]);
    free(f->ignored);
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

/* Reads every record; a structural CSV error stops at once, row errors
 * are all listed (up to INV_MAX_ERRORS). */
static int read_records(struct pctx *x, struct inv_csv *c, struct inv_file *f)
{
    char **fields;
    int nfields, line, rc;
    size_t cap = 0;
    bool header = true;
    char cerr[512];
    while ((rc = inv_csv_next(c, &fields, &nfields, &line, cerr, sizeof(cerr))) == 1) {
        x->line = line;
        if (header) {
            header = false;
            if (parse_header(x, f, fields, nfields))
                return -EINVAL;
            continue;
        }
        if ((rc = add_row(x, f, &cap, fields, nfields)) != 0)
            return rc;
    }
    if (rc < 0) {
        /* the reader's message is "LINE: why": the row errors so far, then it */
        size_t n = strlen(x->err);
        snprintf(x->err + n, x->errlen - n, "%s%s:%s", n ? "\n" : "", x->name, cerr);
        x->nerrors++;
        return rc;
    }
    if (header) {
        snprintf(x->err, x->errlen, "%s: empty file (a header row is required)", x->name);
        return -EINVAL;
    }
    return 0;
}

struct inv_file *inv_parse_opts(const char *name, const char *buf, size_t len,
                                const struct inv_opts *o, char *err, size_t errlen)
{
    struct pctx x = {.name = name, .err = err, .errlen = errlen, .o = o};
    struct inv_file *f = calloc(1, sizeof(*f));
    struct inv_csv *c = inv_csv_new(buf, len);
    int rc = -ENOMEM;
    err[0] = '\0';
    if (f && c && (f->name = strdup(name)) != NULL) {
        rc = read_records(&x, c, f);
        if (rc == 0 && x.nerrors == 0)
            cross_checks(&x, f);
    }
    inv_csv_free(c);
    if (rc == -ENOMEM || x.oom) {
        snprintf(err, errlen, "%s: out of memory", name);
        rc = -ENOMEM;
    } else if (x.nerrors > 0) {
        size_t n = strlen(err);
        if (x.nerrors > INV_MAX_ERRORS && n + 1 < errlen)
            snprintf(err + n, errlen - n, "\n%s: %ld more error%s not shown", name,
                     x.nerrors - INV_MAX_ERRORS, x.nerrors - INV_MAX_ERRORS > 1 ? "s" : "");
        rc = -EINVAL;
    }
    if (rc) {
        inv_free(f);
        return NULL;
    }
    return f;
}

struct inv_file *inv_parse(const char *name, const char *buf, size_t len, unsigned flags,
                           char *err, size_t errlen)
{
    struct inv_opts o = {.flags = flags};
    return inv_parse_opts(name, buf, len, &o, err, errlen);
}

struct inv_file *inv_load(const char *path, unsigned flags, char *err, size_t errlen)
{
    struct inv_opts o = {.flags = flags};
    return inv_load_opts(path, &o, err, errlen);
}

struct inv_file *inv_load_opts(const char *path, const struct inv_opts *o, char *err,
                               size_t errlen)
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
        f = inv_parse_opts(path, buf, n, o, err, errlen);
    free(buf);
    return f;
}

/* --- one value, validated like its intake column --- */

int inv_check_field(const char *column, const char *value, char **out, char *why, size_t whylen)
{
    struct inv_opts o = {0};
    struct pctx x = {.name = "", .err = why, .errlen = whylen, .o = &o};
    int col = find_column(column, strlen(column));
    *out = NULL;
    why[0] = '\0';
    if (col < 0 || col == COL_WAVE || col == COL_APP || col == COL_SERVER || col == COL_DISKS ||
        col == COL_TAGS) {
        snprintf(why, whylen, "'%s' is not a column server set changes", column);
        return -EINVAL;
    }
    struct inv_row r = {0};
    const char *cell[COL_N] = {0};
    cell[col] = value;
    switch (col) {
    case COL_SRC_PORT: {
        int port = port_cell(&x, value);
        if (port > 0 && asprintf(out, "%d", port) < 0)
            x.oom = true;
        break;
    }
    case COL_SGS:
    case COL_TEST_SGS: {
        size_t n;
        char **items = list_cell(&x, col, value, &n);
        struct wm_pgarr a = {0};
        for (size_t i = 0; i < n; i++) {
            wm_pgarr_text(&a, items[i]);
            free(items[i]);
        }
        free(items);
        const char *lit = x.nerrors ? NULL : wm_pgarr_end(&a);
        if (lit)
            *out = strdup(lit);
        wm_pgarr_free(&a);
        break;
    }
    default: {
        /* the row filler validates every column; keep only this one's */
        fill_row(&x, cell, &r);
        char **fields[] = {[COL_FQDN] = &r.fqdn,          [COL_OS_FAMILY] = &r.os_family,
                           [COL_OS_VERSION] = &r.os_version, [COL_SRC_HOST] = &r.source_host,
                           [COL_SRC_USER] = &r.source_user,  [COL_CREDENTIAL] = &r.credential,
                           [COL_PROVIDER] = &r.provider,     [COL_INSTANCE] = &r.instance_type,
                           [COL_SUBNET] = &r.subnet_id};
        if (col < (int)(sizeof(fields) / sizeof(fields[0])) && fields[col] && *fields[col]) {
            *out = *fields[col];
            *fields[col] = NULL;
        }
        x.nerrors = *out ? 0 : x.nerrors;
        row_free(&r);
    }
    }
    if (x.nerrors || !*out) {
        /* the line "…: column NAME: why" of this column -> "why" */
        char needle[96];
        snprintf(needle, sizeof(needle), ": column %s: ", columns[col].name);
        const char *c = strstr(why, needle);
        if (c) {
            c += strlen(needle);
            size_t n = strcspn(c, "\n");
            memmove(why, c, n);
            why[n] = '\0';
        } else {
            snprintf(why, whylen, "required value is empty");
        }
        free(*out);
        *out = NULL;
        return -EINVAL;
    }
    return 0;
}
