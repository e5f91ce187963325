/* config — see config.h.
 *
 * Every value is kept as text (for wm_config_str and the dump) and, for the
 * numeric types, also as the parsed int64; both are checked and stored when
 * the value is set, so a reader never sees a value that failed validation.
 * Setting happens during start-up only; afterwards the struct is read-only,
 * so readers on many threads need no lock.
 *
 * Environment: only WAVEMILL_* names that map to a declared key are read.
 * Unknown WAVEMILL_* variables are ignored on purpose: they may belong to
 * another wavemill program (with its own keys) or to the test scripts. */
#include "config.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CFG_LINE_MAX 8192 /* longest accepted config file line */
#define CFG_NAME_MAX 128  /* longest key name ("section.key") */
#define CFG_ORIGIN_MAX 160

extern char **environ;

struct cfg_entry {
    const struct wm_config_key *key;
    char *text;   /* NULL = unset */
    int64_t num;  /* parsed value for INT / DURATION / SIZE / BOOL */
    char origin[CFG_ORIGIN_MAX];
};

struct wm_config {
    struct cfg_entry *entries;
    size_t n, cap;
    size_t ignored;        /* file keys skipped: other programs' sections */
    bool from_file_or_env; /* a file was loaded or a WAVEMILL_* variable matched */
};

/* The sections of the one configuration file and the programs that read
 * each.  A program skips a section it declares no key of when the section
 * is listed here (it belongs to another program of the same
 * /etc/wavemill/wavemill.conf), and rejects any other unknown section or
 * key.  A new section is one line here. */
static const struct wm_config_section known_sections[] = {
    {"log", "every program"},
    {"kafka", "wavemill, wavemill-scheduler, wavemill-worker, wavemill-api"},
    {"pg", "wavemill, wavemill-scheduler, wavemill-worker, wavemill-api"},
    {"secrets", "wavemill, wavemill-worker"},
    {"scheduler", "wavemill-scheduler"},
    {"worker", "wavemill-worker"},
    {"sim", "wavemill-worker"},
    {"ssh", "wavemill-worker"},
    {"repl", "wavemill-worker"},
    {"aws", "wavemill-worker"},
    {"ebs", "wavemill-worker"},
    {"libvirt", "wavemill-worker"},
    {"metrics", "wavemill-scheduler, wavemill-worker"},
    {"cmdb", "wavemill-worker"},
    {"receiver", "wavemill-receiver"},
    {"agent", "wavemill-agent"},
    {"api", "wavemill-api"},
};

#define MS(s) ((int64_t)(s) * 1000)

static const struct wm_config_key log_keys[] = {
    {"log.level", WM_CFG_STRING, "info", 0, 0, false, "debug, info, warn or error"},
};

static const struct wm_config_key common_keys[] = {
    {"kafka.brokers", WM_CFG_STRING, "127.0.0.1:19092", 0, 0, true,
     "bootstrap servers, host:port[,host:port]"},
    {"kafka.topic_prefix", WM_CFG_STRING, "", 0, 0, false,
     "prepended to every topic name, so several factories can share a cluster"},
    {"kafka.client_id", WM_CFG_STRING, "wavemill", 0, 0, false, "client.id sent to the broker"},
    {"kafka.flush_timeout", WM_CFG_DURATION, "10s", 0, MS(3600), false,
     "longest wait for undelivered messages when a producer shuts down"},
    {"kafka.session_timeout", WM_CFG_DURATION, "10s", MS(1), MS(3600), false,
     "consumer group session.timeout.ms"},
    {"kafka.max_poll_interval", WM_CFG_DURATION, "300s", MS(1), MS(86400), false,
     "consumer max.poll.interval.ms"},
    /* broker authentication (kafka.c conf_security; docs/security.md) */
    {"kafka.security_protocol", WM_CFG_STRING, "plaintext", 0, 0, false,
     "plaintext, ssl (TLS; mutual with kafka.ssl_cert/ssl_key), sasl_ssl or sasl_plaintext"},
    {"kafka.ssl_ca", WM_CFG_STRING, "", 0, 0, false,
     "PEM file of the CA that signed the broker's certificate (ssl, sasl_ssl)"},
    {"kafka.ssl_cert", WM_CFG_STRING, "", 0, 0, false,
     "PEM client certificate for mutual TLS; its subject is the Kafka principal"},
    {"kafka.ssl_key", WM_CFG_STRING, "", 0, 0, false, "PEM private key of kafka.ssl_cert"},
    {"kafka.ssl_key_password", WM_CFG_SECRET, "", 0, 0, false,
     "password of kafka.ssl_key, if it is encrypted"},
    {"kafka.sasl_mechanism", WM_CFG_STRING, "SCRAM-SHA-512", 0, 0, false,
     "SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (sasl_ssl, sasl_plaintext)"},
    {"kafka.sasl_username", WM_CFG_STRING, "", 0, 0, false, "SASL user: the Kafka principal"},
    {"kafka.sasl_password", WM_CFG_SECRET, "", 0, 0, false, "SASL password (never logged)"},
    {"pg.conninfo", WM_CFG_STRING, "host=127.0.0.1 port=15432 dbname=wavemill user=wavemill", 0, 0,
     true, "libpq connection string (a password in it is never logged)"},
    {"pg.connect_timeout", WM_CFG_DURATION, "10s", 0, MS(3600), false,
     "how long to retry the first connection"},
    {"pg.reconnect_max", WM_CFG_DURATION, "5s", 1, MS(3600), false,
     "upper bound of the reconnect backoff"},
    {"pg.tx_retries", WM_CFG_INT, "5", 0, 1000, false,
     "retries of a transaction after a serialization failure or lost connection"},
};

/* ------------------------------------------------------------------ */
/* value parsers: 0 or -EINVAL with the reason in why                  */

static int parse_int(const char *s, int64_t *out, const char **why)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || isspace((unsigned char)*s)) {
        *why = "not an integer";
        return -EINVAL;
    }
    if (errno == ERANGE) {
        *why = "integer out of the int64 range";
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* Splits "<digits><unit>" for durations and sizes. */
static int parse_number_unit(const char *s, int64_t *num, const char **unit, const char **why)
{
    const char *p = s;
    if (!isdigit((unsigned char)*p)) {
        *why = "not a non-negative number";
        return -EINVAL;
    }
    int64_t v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (INT64_MAX - 9) / 10) {
            *why = "number too large";
            return -EINVAL;
        }
        v = v * 10 + (*p - '0');
    }
    *num = v;
    *unit = p;
    return 0;
}

static int scale(int64_t v, int64_t mult, int64_t *out, const char **why)
{
    if (v > INT64_MAX / mult) {
        *why = "number too large";
        return -EINVAL;
    }
    *out = v * mult;
    return 0;
}

static int parse_duration(const char *s, int64_t *out, const char **why)
{
    static const struct { const char *unit; int64_t mult; } units[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    int64_t v;
    const char *unit;
    if (parse_number_unit(s, &v, &unit, why) < 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].unit) == 0)
            return scale(v, units[i].mult, out, why);
    }
    *why = "bad duration unit (use ms, s, m, h, d or a bare number of ms)";
    return -EINVAL;
}

static int parse_size(const char *s, int64_t *out, const char **why)
{
    int64_t v;
    const char *unit;
    if (parse_number_unit(s, &v, &unit, why) < 0)
        return -EINVAL;
    int shift = -1;
    switch (toupper((unsigned char)unit[0])) {
    case '\0': shift = 0; break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    }
    /* "64M", "64MB", "64MiB" all mean 64 * 2^20 */
    const char *rest = unit[0] ? unit + 1 : unit;
    if (shift < 0 || !(rest[0] == '\0' || strcasecmp(rest, "B") == 0 ||
                       strcasecmp(rest, "iB") == 0)) {
        *why = "bad size unit (use k, M, G, T — powers of 1024 — or a bare number of bytes)";
        return -EINVAL;
    }
    return scale(v, (int64_t)1 << shift, out, why);
}

static int parse_bool(const char *s, int64_t *out, const char **why)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    *why = "not a boolean (true/false, yes/no, on/off, 1/0)";
    return -EINVAL;
}

/* Parses and range-checks text for key; *why is a static reason, or
 * range_buf is filled for range errors. */
static int parse_value(const struct wm_config_key *k, const char *text, int64_t *num,
                       const char **why, char *range_buf, size_t range_len)
{
    int rc = 0;
    *num = 0;
    switch (k->type) {
    case WM_CFG_STRING:
    case WM_CFG_SECRET:
        if (strcmp(k->name, "log.level") == 0) {
            enum wm_log_level lvl;
            if (wm_log_parse_level(text, &lvl) < 0) {
                *why = "not a log level (debug, info, warn, error)";
                return -EINVAL;
            }
        }
        return 0;
    case WM_CFG_INT: rc = parse_int(text, num, why); break;
    case WM_CFG_BOOL: return parse_bool(text, num, why);
    case WM_CFG_DURATION: rc = parse_duration(text, num, why); break;
    case WM_CFG_SIZE: rc = parse_size(text, num, why); break;
    }
    if (rc < 0)
        return rc;
    if (!(k->min == 0 && k->max == 0) && (*num < k->min || *num > k->max)) {
        snprintf(range_buf, range_len, "%lld is out of range [%lld, %lld]%s", (long long)*num,
                 (long long)k->min, (long long)k->max,
                 k->type == WM_CFG_DURATION ? " ms" : k->type == WM_CFG_SIZE ? " bytes" : "");
        *why = range_buf;
        return -EINVAL;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* passwords inside connection strings                                  */

/* Finds the next password inside a libpq conninfo ("password=x",
 * "password = 'a b'", URI "postgresql://user:pw@host", "?password=x").
 * Returns the start of the raw value span from p on (quotes included) and
 * its length in *len, or NULL. */
static const char *find_password(const char *s, const char *p, size_t *len)
{
    for (; *p; p++) {
        if (strncasecmp(p, "password", 8) == 0 &&
            (p == s || isspace((unsigned char)p[-1]) || p[-1] == '?' || p[-1] == '&')) {
            const char *v = p + 8;
            while (isspace((unsigned char)*v))
                v++;
            if (*v != '=')
                continue;
            v++;
            while (isspace((unsigned char)*v))
                v++;
            const char *e = v;
            if (*e == '\'') {
                for (e++; *e && *e != '\''; e++)
                    if (*e == '\\' && e[1])
                        e++;
                if (*e == '\'')
                    e++;
            } else {
                while (*e && !isspace((unsigned char)*e) && *e != '&')
                    e++;
            }
            *len = (size_t)(e - v);
            return v;
        }
        /* URI userinfo: scheme://user:password@host */
        if (p == s && (strncmp(p, "postgresql://", 13) == 0 || strncmp(p, "postgres://", 11) == 0)) {
            const char *a = strstr(p, "://") + 3;
            size_t auth = strcspn(a, "/?");
            const char *at = memchr(a, '@', auth);
            const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
            if (colon && colon + 1 < at) {
                *len = (size_t)(at - colon - 1);
                return colon + 1;
            }
        }
    }
    return NULL;
}

/* Registers every password found in a string value with the log redactor,
 * so it is masked in any log line, whatever prints it. */
static void register_passwords(const char *text)
{
    size_t len;
    for (const char *v = find_password(text, text, &len); v; v = find_password(text, v + len, &len)) {
        char buf[CFG_LINE_MAX];
        size_t n = 0;
        const char *p = v, *end = v + len;
        if (*p == '\'') {
            p++;
            if (end > p && end[-1] == '\'')
                end--;
        }
        for (; p < end && n + 1 < sizeof(buf); p++) {
            if (*p == '\\' && p + 1 < end)
                p++;
            buf[n++] = *p;
        }
        buf[n] = '\0';
        wm_log_register_secret(buf);
        if (len == 0)
            break;
    }
}

/* Copies text to dst with every password replaced by "***". */
static void mask_passwords(const char *text, char *dst, size_t dstlen)
{
    size_t pos = 0, len;
    const char *from = text;
    for (const char *v = find_password(text, text, &len); v && pos + 1 < dstlen;
         v = find_password(text, v + len, &len)) {
        pos += (size_t)snprintf(dst + pos, dstlen - pos, "%.*s***", (int)(v - from), from);
        from = v + len;
        if (pos >= dstlen)
            pos = dstlen - 1;
        if (len == 0)
            break;
    }
    if (pos + 1 < dstlen)
        snprintf(dst + pos, dstlen - pos, "%s", from);
}

/* ------------------------------------------------------------------ */
/* declaration                                                          */

static struct cfg_entry *find_entry(const struct wm_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n; i++) {
        if (strcmp(cfg->entries[i].key->name, name) == 0)
            return &cfg->entries[i];
    }
    return NULL;
}

/* WAVEMILL_ + upper-cased name with '.' → '_'. */
static void env_name(const char *key, char *buf, size_t len)
{
    int n = snprintf(buf, len, "WAVEMILL_");
    for (const char *p = key; *p && (size_t)n + 1 < len; p++)
        buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= CFG_NAME_MAX || name[0] == '.' || name[n - 1] == '.')
        return false;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return false;
    }
    return true;
}

static int set_entry(struct cfg_entry *e, const char *text, const char *origin, char *err,
                     size_t errlen)
{
    int64_t num;
    const char *why = NULL;
    char range[160];
    if (parse_value(e->key, text, &num, &why, range, sizeof(range)) < 0) {
        snprintf(err, errlen, "%s: key %s: bad value: %s", origin, e->key->name, why);
        return -EINVAL;
    }
    char *copy = strdup(text);
    if (!copy) {
        snprintf(err, errlen, "%s: key %s: out of memory", origin, e->key->name);
        return -ENOMEM;
    }
    if (e->key->type == WM_CFG_SECRET)
        wm_log_register_secret(copy);
    else if (e->key->type == WM_CFG_STRING)
        register_passwords(copy);
    free(e->text);
    e->text = copy;
    e->num = num;
    snprintf(e->origin, sizeof(e->origin), "%s", origin);
    return 0;
}

static int declare_one(struct wm_config *cfg, const struct wm_config_key *k, char *err,
                       size_t errlen)
{
    if (!k->name || !valid_name(k->name)) {
        snprintf(err, errlen, "declare: bad key name '%s'", k->name ? k->name : "(null)");
        return -EINVAL;
    }
    char env_k[CFG_NAME_MAX + 16], env_o[CFG_NAME_MAX + 16];
    env_name(k->name, env_k, sizeof(env_k));
    for (size_t i = 0; i < cfg->n; i++) {
        env_name(cfg->entries[i].key->name, env_o, sizeof(env_o));
        if (strcmp(env_k, env_o) == 0) {
            snprintf(err, errlen, "declare: key %s already declared%s", k->name,
                     strcmp(k->name, cfg->entries[i].key->name) ? " (same environment name)" : "");
            return -EEXIST;
        }
    }
    if (cfg->n == cfg->cap) {
        size_t cap = cfg->cap ? cfg->cap * 2 : 32;
        struct cfg_entry *ne = realloc(cfg->entries, cap * sizeof(*ne));
        if (!ne) {
            snprintf(err, errlen, "declare: out of memory");
            return -ENOMEM;
        }
        cfg->entries = ne;
        cfg->cap = cap;
    }
    struct cfg_entry *e = &cfg->entries[cfg->n];
    memset(e, 0, sizeof(*e));
    e->key = k;
    if (k->def) {
        int rc = set_entry(e, k->def, "default", err, errlen);
        if (rc < 0)
            return rc;
    }
    cfg->n++;
    return 0;
}

int wm_config_declare(struct wm_config *cfg, const struct wm_config_key *keys, size_t n,
                      char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = declare_one(cfg, &keys[i], err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

struct wm_config *wm_config_new_bare(void)
{
    struct wm_config *cfg = calloc(1, sizeof(*cfg));
    char err[256];
    if (!cfg)
        return NULL;
    if (wm_config_declare(cfg, log_keys, sizeof(log_keys) / sizeof(log_keys[0]), err, sizeof(err)) <
        0) {
        wm_error("config.declare_failed", "err=\"%s\"", err);
        wm_config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct wm_config *wm_config_new(void)
{
    struct wm_config *cfg = wm_config_new_bare();
    char err[256];
    if (!cfg)
        return NULL;
    if (wm_config_declare(cfg, common_keys, sizeof(common_keys) / sizeof(common_keys[0]), err,
                          sizeof(err)) < 0) {
        wm_error("config.declare_failed", "err=\"%s\"", err);
        wm_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void wm_config_free(struct wm_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n; i++) {
        if (cfg->entries[i].text) {
            explicit_bzero(cfg->entries[i].text, strlen(cfg->entries[i].text));
            free(cfg->entries[i].text);
        }
    }
    free(cfg->entries);
    free(cfg);
}

/* ------------------------------------------------------------------ */
/* sources                                                              */

int wm_config_set(struct wm_config *cfg, const char *key, const char *value, const char *origin,
                  char *err, size_t errlen)
{
    if (!origin)
        origin = "set";
    struct cfg_entry *e = find_entry(cfg, key);
    if (!e) {
        snprintf(err, errlen, "%s: unknown key %s", origin, key);
        return -ENOENT;
    }
    if (!value) {
        snprintf(err, errlen, "%s: key %s: no value", origin, key);
        return -EINVAL;
    }
    return set_entry(e, value, origin, err, errlen);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static bool is_comment_start(const char *p)
{
    return *p == '#' || *p == ';';
}

/* Line is "[section]" (already trimmed, starts with '[').  Writes the
 * section name or returns why it is bad. */
static const char *parse_section(char *line, char *section, size_t len)
{
    char *close = strchr(line, ']');
    if (!close)
        return "unterminated section header (missing ']')";
    char *rest = close + 1;
    while (isspace((unsigned char)*rest))
        rest++;
    if (*rest && !is_comment_start(rest))
        return "text after section header";
    *close = '\0';
    char *name = trim(line + 1);
    if (!*name || strlen(name) >= len || !valid_name(name))
        return "bad section name";
    snprintf(section, len, "%s", name);
    return NULL;
}

/* Value part after '=' (trimmed of leading space).  A quoted value ends at
 * its closing quote (\" and \\ escape); an unquoted value ends at a '#' or
 * ';' preceded by whitespace (an inline comment) — quote a value that must
 * contain " #".  Rewrites in place; returns NULL with *why on error. */
static char *parse_rhs(char *v, const char **why)
{
    if (*v == '"') {
        char *out = v, *p = v + 1;
        for (; *p && *p != '"'; p++) {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            *out++ = *p;
        }
        if (*p != '"') {
            *why = "unterminated quoted value";
            return NULL;
        }
        char *rest = p + 1;
        while (isspace((unsigned char)*rest))
            rest++;
        if (*rest && !is_comment_start(rest)) {
            *why = "text after closing quote";
            return NULL;
        }
        *out = '\0';
        return v;
    }
    for (char *p = v; *p; p++) {
        if (is_comment_start(p) && p > v && isspace((unsigned char)p[-1])) {
            *p = '\0';
            break;
        }
    }
    return trim(v);
}

/* The section of "section.key": its text up to the first '.'. */
static void key_section(const char *key, char *sec, size_t len)
{
    size_t n = strcspn(key, ".");
    snprintf(sec, len, "%.*s", (int)(n < len ? n : len - 1), key);
}

static bool declares_section(const struct wm_config *cfg, const char *sec)
{
    size_t n = strlen(sec);
    for (size_t i = 0; i < cfg->n; i++) {
        const char *name = cfg->entries[i].key->name;
        if (strncmp(name, sec, n) == 0 && name[n] == '.')
            return true;
    }
    return false;
}

/* An undeclared key in a file: 0 when it belongs to a section another
 * program reads (skipped), 1 when it is in a section this program reads
 * (wm_config_set then names it unknown), -ENOENT for an unknown section. */
static int check_foreign_key(struct wm_config *cfg, const char *key, const char *where, char *err,
                             size_t errlen)
{
    char sec[CFG_NAME_MAX];
    key_section(key, sec, sizeof(sec));
    if (declares_section(cfg, sec) || !strchr(key, '.'))
        return 1;
    const char *reader = wm_config_section_reader(sec);
    if (!reader) {
        snprintf(err, errlen, "%s: key %s: unknown section [%s] (no wavemill program reads it)",
                 where, key, sec);
        return -ENOENT;
    }
    cfg->ignored++;
    wm_debug("config.key_skipped", "key=%s where=%s reader=\"%s\"", key, where, reader);
    return 0;
}

/* One "key = value" line inside section (may be ""). */
static int parse_assignment(struct wm_config *cfg, char *line, const char *section,
                            const char *where, char *err, size_t errlen)
{
    char *eq = strchr(line, '=');
    if (!eq) {
        snprintf(err, errlen, "%s: missing '=' in \"%.40s\"", where, line);
        return -EINVAL;
    }
    *eq = '\0';
    char *name = trim(line);
    char key[CFG_NAME_MAX * 2];
    if (!*name) {
        snprintf(err, errlen, "%s: missing key before '='", where);
        return -EINVAL;
    }
    snprintf(key, sizeof(key), "%s%s%s", section, *section ? "." : "", name);
    const char *why = NULL;
    char *value = parse_rhs(trim(eq + 1), &why);
    if (!value) {
        snprintf(err, errlen, "%s: key %s: %s", where, key, why);
        return -EINVAL;
    }
    if (!find_entry(cfg, key)) {
        int rc = check_foreign_key(cfg, key, where, err, errlen);
        if (rc <= 0)
            return rc;
    }
    return wm_config_set(cfg, key, value, where, err, errlen);
}

static int parse_line(struct wm_config *cfg, char *raw, char *section, size_t seclen,
                      const char *where, char *err, size_t errlen)
{
    char *line = trim(raw);
    if (!*line || is_comment_start(line))
        return 0;
    if (*line == '[') {
        const char *why = parse_section(line, section, seclen);
        if (why) {
            snprintf(err, errlen, "%s: %s", where, why);
            return -EINVAL;
        }
        return 0;
    }
    return parse_assignment(cfg, line, section, where, err, errlen);
}

int wm_config_load_file(struct wm_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int rc = -errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return rc;
    }
    char line[CFG_LINE_MAX], section[CFG_NAME_MAX] = "", where[CFG_ORIGIN_MAX];
    int rc = 0;
    for (unsigned lineno = 1; fgets(line, sizeof(line), f); lineno++) {
        snprintf(where, sizeof(where), "%s:%u", path, lineno);
        size_t n = strlen(line);
        if (n == sizeof(line) - 1 && line[n - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "%s: line longer than %d bytes", where, CFG_LINE_MAX - 2);
            rc = -EINVAL;
            break;
        }
        rc = parse_line(cfg, line, section, sizeof(section), where, err, errlen);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        cfg->from_file_or_env = true;
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -EIO;
    }
    explicit_bzero(line, sizeof(line));
    fclose(f);
    return rc;
}

int wm_config_load_env(struct wm_config *cfg, char *const *envp, char *err, size_t errlen)
{
    if (!envp)
        envp = environ;
    for (size_t i = 0; i < cfg->n; i++) {
        char name[CFG_NAME_MAX + 16], origin[CFG_ORIGIN_MAX];
        env_name(cfg->entries[i].key->name, name, sizeof(name));
        size_t len = strlen(name);
        for (char *const *e = envp; *e; e++) {
            if (strncmp(*e, name, len) != 0 || (*e)[len] != '=')
                continue;
            snprintf(origin, sizeof(origin), "env %s", name);
            int rc = set_entry(&cfg->entries[i], *e + len + 1, origin, err, errlen);
            if (rc < 0)
                return rc;
            cfg->from_file_or_env = true;
        }
    }
    return 0;
}

int wm_config_load(struct wm_config *cfg, const char *path, char *err, size_t errlen)
{
    if (path) {
        int rc = wm_config_load_file(cfg, path, err, errlen);
        if (rc < 0)
            return rc;
    }
    return wm_config_load_env(cfg, NULL, err, errlen);
}

int wm_config_validate(const struct wm_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const struct cfg_entry *e = &cfg->entries[i];
        if (e->key->required && (!e->text || !*e->text)) {
            char env[CFG_NAME_MAX + 16];
            env_name(e->key->name, env, sizeof(env));
            snprintf(err, errlen, "key %s: required but not set (config file, %s or a flag)",
                     e->key->name, env);
            return -EINVAL;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* reading                                                              */

static const struct cfg_entry *must_find(const struct wm_config *cfg, const char *key)
{
    const struct cfg_entry *e = find_entry(cfg, key);
    if (!e) {
        wm_error("config.undeclared_key", "key=%s", key);
        abort(); /* a programming error: every key read must be declared */
    }
    return e;
}

const char *wm_config_str(const struct wm_config *cfg, const char *key)
{
    return must_find(cfg, key)->text;
}

int64_t wm_config_int(const struct wm_config *cfg, const char *key)
{
    const struct cfg_entry *e = must_find(cfg, key);
    if (e->key->type != WM_CFG_INT && e->key->type != WM_CFG_DURATION &&
        e->key->type != WM_CFG_SIZE && e->key->type != WM_CFG_BOOL) {
        wm_error("config.wrong_type", "key=%s want=int", key);
        abort();
    }
    return e->num;
}

bool wm_config_bool(const struct wm_config *cfg, const char *key)
{
    const struct cfg_entry *e = must_find(cfg, key);
    if (e->key->type != WM_CFG_BOOL) {
        wm_error("config.wrong_type", "key=%s want=bool", key);
        abort();
    }
    return e->num != 0;
}

size_t wm_config_dump(const struct wm_config *cfg, char *buf, size_t len)
{
    size_t pos = 0;
    if (len == 0)
        return 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cfg->n && pos + 1 < len; i++) {
        const struct cfg_entry *e = &cfg->entries[i];
        char shown[CFG_LINE_MAX];
        if (!e->text)
            shown[0] = '\0';
        else if (e->key->type == WM_CFG_SECRET)
            snprintf(shown, sizeof(shown), "***");
        else
            mask_passwords(e->text, shown, sizeof(shown));
        bool quote = e->key->type == WM_CFG_STRING && e->text;
        int n = snprintf(buf + pos, len - pos, "%s = %s%s%s\n", e->key->name, quote ? "\"" : "",
                         shown, quote ? "\"" : "");
        if (n < 0)
            break;
        pos += (size_t)n < len - pos ? (size_t)n : len - pos - 1;
    }
    return pos;
}

/* ------------------------------------------------------------------ */
/* introspection: sections, the reference, the defaults in use         */

const char *wm_config_section_reader(const char *section)
{
    for (size_t i = 0; i < sizeof(known_sections) / sizeof(known_sections[0]); i++) {
        if (strcmp(known_sections[i].section, section) == 0)
            return known_sections[i].reader;
    }
    return NULL;
}

const struct wm_config_section *wm_config_sections(size_t *n)
{
    *n = sizeof(known_sections) / sizeof(known_sections[0]);
    return known_sections;
}

static const char *type_name(enum wm_config_type t)
{
    static const char *const names[] = {"string", "int", "bool", "duration", "size", "secret"};
    return (size_t)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* A key's example value: its default when it has one, else one of its type. */
static const char *example_value(const struct wm_config_key *k)
{
    static const char *const examples[] = {"value", "10", "true", "30s", "64M", "(a secret)"};
    if (k->def && *k->def)
        return k->def;
    return (size_t)k->type < sizeof(examples) / sizeof(examples[0]) ? examples[k->type] : "";
}

void wm_config_reference(const struct wm_config *cfg, const char *program, FILE *out)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const struct wm_config_key *k = cfg->entries[i].key;
        char range[96] = "";
        if (!(k->min == 0 && k->max == 0))
            snprintf(range, sizeof(range), "%lld..%lld%s", (long long)k->min, (long long)k->max,
                     k->type == WM_CFG_DURATION ? " ms"
                     : k->type == WM_CFG_SIZE   ? " bytes"
                                                : "");
        /* one record per key, tab-separated, for docs/configuration.md's generator */
        fprintf(out, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k->name, type_name(k->type),
                k->def ? k->def : "", k->required ? "required" : "optional", range, program,
                example_value(k), k->doc ? k->doc : "");
    }
}

size_t wm_config_ignored(const struct wm_config *cfg)
{
    return cfg->ignored;
}

size_t wm_config_defaults_in_use(const struct wm_config *cfg, char *buf, size_t len)
{
    size_t pos = 0;
    if (len == 0)
        return 0;
    buf[0] = '\0';
    if (cfg->from_file_or_env)
        return 0;
    for (size_t i = 0; i < cfg->n && pos + 1 < len; i++) {
        const struct cfg_entry *e = &cfg->entries[i];
        if (!e->key->required || !e->text || strcmp(e->origin, "default") != 0)
            continue;
        char shown[CFG_LINE_MAX];
        mask_passwords(e->text, shown, sizeof(shown));
        int n = snprintf(buf + pos, len - pos, "%s%s=\"%s\"", pos ? " " : "", e->key->name, shown);
        if (n < 0)
            break;
        pos += (size_t)n < len - pos ? (size_t)n : len - pos - 1;
    }
    return pos;
}
