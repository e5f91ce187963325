/* config — one format for every wavemill program.
 *
 * Sources, later wins: built-in defaults (pointing at the local stack) <
 * config file (`key = value`, `[section]` headers, `#` comments) <
 * WAVEMILL_<SECTION>_<KEY> environment variables < command-line flags.
 * A key is "section.key" (e.g. "kafka.brokers"); the environment name is
 * the key upper-cased with '.' turned into '_' (WAVEMILL_KAFKA_BROKERS).
 *
 * Every key must be declared with its type, default and doc before it is
 * set; an unknown key or a bad value is an error that names the key, the
 * source (file:line, env var, flag) and why.
 *
 * File syntax: `#` or `;` starts a comment line, and an inline comment when
 * preceded by whitespace in an unquoted value; "..." quotes a value (\" and
 * \\ escape); surrounding whitespace is trimmed.  Unknown WAVEMILL_*
 * environment variables are ignored (they may belong to another wavemill
 * program or a test script).  Passwords inside string values (libpq
 * `password=` or a URI's user:password@) are registered with the log
 * redactor and shown as *** by wm_config_dump(). */
#ifndef WM_CONFIG_H
#define WM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum wm_config_type {
    WM_CFG_STRING,
    WM_CFG_INT,      /* int64, checked against [min, max] */
    WM_CFG_BOOL,     /* true/false/yes/no/on/off/1/0 */
    WM_CFG_DURATION, /* milliseconds; accepts "250ms", "5s", "2m", "1h" or a bare number of ms */
    WM_CFG_SIZE,     /* bytes; accepts "4096", "4k", "64M", "1G" (powers of 1024) */
    WM_CFG_SECRET,   /* string that is registered with the log redactor */
};

struct wm_config_key {
    const char *name; /* "section.key" */
    enum wm_config_type type;
    const char *def;  /* default as text; NULL = no default (required if .required) */
    int64_t min, max; /* for INT/DURATION/SIZE; min == max == 0 means unbounded */
    bool required;
    const char *doc;
};

struct wm_config;

/* A section of the one configuration file and who reads it ("wavemill-worker"). */
struct wm_config_section {
    const char *section, *reader;
};

/* A config holding the common keys (log.*, kafka.*, pg.*) with defaults. */
struct wm_config *wm_config_new(void);
/* A config holding log.* only (programs that use neither Kafka nor PostgreSQL). */
struct wm_config *wm_config_new_bare(void);
void wm_config_free(struct wm_config *cfg);

/* Declares more keys (a program's own).  keys is borrowed and must outlive
 * cfg (normally a static table).  Redeclaring a name is an error. */
int wm_config_declare(struct wm_config *cfg, const struct wm_config_key *keys, size_t n,
                      char *err, size_t errlen);

/* --- sources ---
 * A file may hold the sections of every wavemill program: a key this
 * program does not declare is skipped when its section is one another
 * program reads (wm_config_sections()) and this program declares no key
 * of it; it is an error in a section of this program ("unknown key") and
 * in a section no program reads ("unknown section"). */
int wm_config_load_file(struct wm_config *cfg, const char *path, char *err, size_t errlen);
int wm_config_load_env(struct wm_config *cfg, char *const *envp, char *err, size_t errlen);
/* origin says where the value came from, for messages ("--brokers"). */
int wm_config_set(struct wm_config *cfg, const char *key, const char *value, const char *origin,
                  char *err, size_t errlen);

/* Standard start-up: defaults, then the file (if path != NULL), then the
 * environment.  Flags are applied by the caller afterwards with
 * wm_config_set(), then wm_config_validate(). */
int wm_config_load(struct wm_config *cfg, const char *path, char *err, size_t errlen);

/* Checks that every required key has a value.  0 or -EINVAL with err. */
int wm_config_validate(const struct wm_config *cfg, char *err, size_t errlen);

/* --- reading (key must be declared; abort()s on an undeclared key, a programming error) --- */
const char *wm_config_str(const struct wm_config *cfg, const char *key); /* NULL if unset */
int64_t wm_config_int(const struct wm_config *cfg, const char *key);     /* INT, DURATION, SIZE; 0 if unset */
bool wm_config_bool(const struct wm_config *cfg, const char *key);

/* Writes "key = value" lines for every key (secrets as ***) to buf, always
 * NUL-terminated (truncated if len is too small).  Returns the length written. */
size_t wm_config_dump(const struct wm_config *cfg, char *buf, size_t len);

/* --- introspection --- */
/* The known sections; *n set to their count.  NULL reader: unknown section. */
const struct wm_config_section *wm_config_sections(size_t *n);
const char *wm_config_section_reader(const char *section);
/* One tab-separated record per declared key, in declaration order:
 * name, type, default, required|optional, min..max, program, example, doc. */
void wm_config_reference(const struct wm_config *cfg, const char *program, FILE *out);
/* How many file keys were skipped as other programs'. */
size_t wm_config_ignored(const struct wm_config *cfg);
/* When neither a file was loaded nor a WAVEMILL_* variable matched, writes
 * the required keys still at their built-in default ("key=\"value\"" ...,
 * passwords masked) and returns the length; else writes "" and returns 0. */
size_t wm_config_defaults_in_use(const struct wm_config *cfg, char *buf, size_t len);

#endif
