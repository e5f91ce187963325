/* inventory — the intake form: CSV file → validated rows → PostgreSQL.
 *
 * File format (one row per server, RFC 4180):
 *   - a header row naming the columns, in any order, case-insensitive;
 *     required columns: wave_name, app_name, server_name, server_os_family,
 *     source_host, target_provider; optional: server_fqdn,
 *     server_os_version, source_port, source_user, credential, disks,
 *     target_provider, instance_type, subnet_id, security_group_ids,
 *     test_security_group_ids, tags.  Any other column is an error unless
 *     INV_IGNORE_UNKNOWN.
 *   - fields separated by ',', optionally quoted with '"' ('""' is a quote
 *     inside a quoted field, which may also hold ',' and line breaks);
 *     records end with LF or CRLF; a UTF-8 BOM and blank lines are ignored.
 *     Cells are trimmed of surrounding blanks.
 *   - multi-value cells separated by ';': security_group_ids,
 *     test_security_group_ids, disks, tags.  tags are "key=value;key=value".
 *     disks are source paths, each optionally "path:SIZE" with SIZE a byte
 *     count with an optional K, M, G or T suffix (powers of 1024, "iB"/"B"
 *     allowed: "/dev/sdb:100G").  The split is at the last ':' and only when
 *     what follows is a size, so "C:" or "\\.\PhysicalDrive0" stay paths.
 *     A disk without a size keeps the size already known (0 when new; the
 *     prereq check measures it).
 *   - server_os_family: linux | windows; target_provider: sim | aws | exec;
 *     source_port: 1-65535, 22 when empty.
 *
 * Per-server settings (common/srvset.h: transport, stop_command, probes,
 * agent_dir, …) are optional columns named like their key; a non-empty
 * cell is validated like `wavemill server set` and merged into
 * servers.settings (an empty cell leaves the stored value).
 *
 * Format cmf (INV_FORMAT_CMF): AWS Cloud Migration Factory's server intake
 * form as it is — wave_name, app_name, aws_region, aws_accountid,
 * server_name, server_os_family, server_os_version, server_fqdn,
 * server_tier, server_environment, r_type, subnet_IDs, securitygroup_IDs,
 * subnet_IDs_test, securitygroup_IDs_test, instanceType, tenancy, tags —
 * mapped by inv_cmf_map (server_fqdn is also the source host; tier,
 * environment and r_type become tags; region, account, test subnet and
 * tenancy settings); the native columns (source_user, disks, …) may be
 * added.  target_provider comes from inv_opts.provider when the file has
 * no such column.
 *
 * Every row is validated before anything is written, and every error is
 * reported, one per line: "FILE:LINE: column NAME: why" (LINE is the line
 * the record starts on), at most INV_MAX_ERRORS of them, then
 * "(N more errors not shown)".
 *
 * Import (inv_upsert) upserts waves and applications by name, servers by
 * name, disks by (server, path); disks no longer listed for a server are
 * removed.  A server may move to another wave only while it has no tasks
 * (before its wave started); otherwise that row is an error. */
#ifndef WM_INVENTORY_H
#define WM_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

struct wm_pg;

/* Bounds: a file larger, a record longer, or more fields / rows / items
 * than these is refused with a message that says which bound. */
#define INV_MAX_FILE_BYTES (32u * 1024 * 1024)
#define INV_MAX_RECORD_BYTES (64u * 1024)
#define INV_MAX_FIELDS 64
#define INV_MAX_ROWS 200000
#define INV_MAX_ITEMS 64        /* values in one multi-value cell */
#define INV_MAX_NAME 255        /* single-value cells */
#define INV_MAX_PATH 4096       /* a disk path */
#define INV_MAX_ERRORS 50       /* errors listed in one run */

/* --- CSV reader (RFC 4180), usable on its own --- */
struct inv_csv;

/* Reads from buf (borrowed, must outlive the reader). */
struct inv_csv *inv_csv_new(const char *buf, size_t len);
void inv_csv_free(struct inv_csv *c);
/* Next record: 1 with *fields (borrowed until the next call), *nfields and
 * *line (line the record starts on); 0 at end of input; -EINVAL on malformed
 * input or -E2BIG past a bound, with "LINE: why" in err. */
int inv_csv_next(struct inv_csv *c, char ***fields, int *nfields, int *line, char *err,
                 size_t errlen);

/* --- validated rows --- */
struct inv_disk {
    char *path;
    int64_t size; /* bytes, -1 = not given */
};

struct inv_tag {
    char *key;
    char *value;
};

struct inv_row {
    int line;
    char *wave, *app, *server, *fqdn, *os_family, *os_version;
    char *source_host, *source_user, *credential;
    int source_port;
    char *provider, *instance_type, *subnet_id;
    char **sgs;
    size_t nsgs;
    char **test_sgs;
    size_t ntest_sgs;
    struct inv_tag *tags;
    size_t ntags;
    struct inv_disk *disks;
    size_t ndisks;
    struct inv_tag *settings; /* per-server settings (srvset.h keys) */
    size_t nsettings;
};

struct inv_file {
    char *name; /* as given, for messages */
    struct inv_row *rows;
    size_t nrows;
    char **ignored; /* header names skipped (INV_IGNORE_UNKNOWN) */
    size_t nignored;
};

#define INV_IGNORE_UNKNOWN 1u
#define INV_FORMAT_CMF 2u

struct inv_opts {
    unsigned flags;
    const char *provider; /* target_provider when the file has no column; NULL: required */
};

/* The i-th CMF column and where it goes ("server_fqdn and source_host"),
 * for `wavemill import --format cmf --mapping`; -1 past the last. */
int inv_cmf_col(size_t i, const char **cmf, const char **goes_to);

/* Parses and validates the whole of buf.  name is used in messages.  NULL
 * with err on the first error (see above). */
struct inv_file *inv_parse(const char *name, const char *buf, size_t len, unsigned flags,
                           char *err, size_t errlen);
struct inv_file *inv_parse_opts(const char *name, const char *buf, size_t len,
                                const struct inv_opts *o, char *err, size_t errlen);
/* Reads path (at most INV_MAX_FILE_BYTES) and parses it. */
struct inv_file *inv_load(const char *path, unsigned flags, char *err, size_t errlen);
struct inv_file *inv_load_opts(const char *path, const struct inv_opts *o, char *err,
                               size_t errlen);
void inv_free(struct inv_file *f);

/* Validates value for the native column (source_host, source_port,
 * source_user, credential, target_provider, instance_type, subnet_id,
 * security_group_ids, test_security_group_ids, server_fqdn, os columns)
 * exactly as the intake does; *out (caller frees) gets the value to store
 * (a port as digits, a list as a PostgreSQL array literal).  0, or -EINVAL
 * with why. */
int inv_check_field(const char *column, const char *value, char **out, char *why, size_t whylen);

/* --- import --- */
struct inv_summary {
    long waves_created, waves_existing;
    long apps_created, apps_updated, apps_unchanged;
    long servers_created, servers_updated, servers_unchanged;
    long disks_created, disks_updated, disks_removed;
};

/* Writes f into the database.  Must run inside the caller's transaction
 * (wm_pg_tx): on error the caller rolls back and nothing is kept.  Safe to
 * re-run after a transaction retry (it resets *sum).  0 or negative with
 * err (naming the line for row-level refusals). */
int inv_upsert(struct wm_pg *db, const struct inv_file *f, struct inv_summary *sum, char *err,
               size_t errlen);

/* "waves: 1 created, 0 existing; applications: …" into buf. */
void inv_summary_format(const struct inv_summary *s, char *buf, size_t len);

#endif
