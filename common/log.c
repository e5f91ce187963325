/* log — see log.h */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "utf8.h"

#define LOG_LINE_MAX 4096
#define SECRET_MIN_LEN 4

struct wm_secret {
    size_t len;
    char *value;
};

static enum wm_log_level log_level = WM_LOG_INFO;
static const char *log_component = "wavemill";
static FILE *log_stream;

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
/* The redaction registry: every value a wm_secret holds (one reference per
 * holder) and every value registered for good (config, CLI input).  It grows
 * as needed and shrinks when the last holder frees its secret. */
struct reg_entry {
    char *value;
    size_t len;
    size_t refs;    /* wm_secret holders */
    bool permanent; /* wm_log_register_secret() */
};
static struct reg_entry *secrets;
static size_t secrets_count, secrets_cap;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void wm_log_set_level(enum wm_log_level level)
{
    log_level = level;
}

int wm_log_parse_level(const char *name, enum wm_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum wm_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void wm_log_set_component(const char *component)
{
    log_component = component;
}

void wm_log_set_stream(FILE *stream)
{
    log_stream = stream;
}

/* --- secrets registry --- */

/* Index of value in the registry, or secrets_count.  Caller holds lock. */
static size_t reg_find(const char *value)
{
    size_t i = 0;
    while (i < secrets_count && strcmp(secrets[i].value, value) != 0)
        i++;
    return i;
}

/* Adds one reference (or the permanent mark) to value.  Caller holds lock. */
static int reg_add(const char *value, bool permanent)
{
    size_t i = reg_find(value);
    if (i == secrets_count) {
        if (secrets_count == secrets_cap) {
            size_t cap = secrets_cap ? secrets_cap * 2 : 64;
            struct reg_entry *n = realloc(secrets, cap * sizeof(*n));
            if (!n)
                return -ENOMEM;
            secrets = n;
            secrets_cap = cap;
        }
        char *copy = strdup(value);
        if (!copy)
            return -ENOMEM;
        secrets[secrets_count++] = (struct reg_entry){copy, strlen(copy), 0, false};
    }
    if (permanent)
        secrets[i].permanent = true;
    else
        secrets[i].refs++;
    return 0;
}

/* Drops one holder's reference; the last one wipes and frees the copy. */
static void reg_release(const char *value)
{
    pthread_mutex_lock(&secrets_lock);
    size_t i = reg_find(value);
    if (i < secrets_count && secrets[i].refs > 0 && --secrets[i].refs == 0 &&
        !secrets[i].permanent) {
        explicit_bzero(secrets[i].value, secrets[i].len);
        free(secrets[i].value);
        secrets[i] = secrets[--secrets_count];
    }
    pthread_mutex_unlock(&secrets_lock);
}

int wm_log_register_secret(const char *value)
{
    if (!value || strlen(value) < SECRET_MIN_LEN)
        return 0;
    pthread_mutex_lock(&secrets_lock);
    int rc = reg_add(value, true);
    pthread_mutex_unlock(&secrets_lock);
    return rc;
}

size_t wm_log_secret_count(void)
{
    pthread_mutex_lock(&secrets_lock);
    size_t n = secrets_count;
    pthread_mutex_unlock(&secrets_lock);
    return n;
}

wm_secret *wm_secret_new(const void *value, size_t len)
{
    wm_secret *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->value = malloc(len + 1);
    if (!s->value) {
        free(s);
        return NULL;
    }
    memcpy(s->value, value, len);
    s->value[len] = '\0';
    s->len = len;
    int rc = 0;
    if (strlen(s->value) >= SECRET_MIN_LEN) {
        pthread_mutex_lock(&secrets_lock);
        rc = reg_add(s->value, false);
        pthread_mutex_unlock(&secrets_lock);
    }
    if (rc < 0) {
        explicit_bzero(s->value, s->len);
        free(s->value);
        free(s);
        return NULL;
    }
    return s;
}

void wm_secret_free(wm_secret *s)
{
    if (!s)
        return;
    if (strlen(s->value) >= SECRET_MIN_LEN)
        reg_release(s->value);
    explicit_bzero(s->value, s->len);
    free(s->value);
    free(s);
}

const char *wm_secret_reveal(const wm_secret *s, size_t *len)
{
    if (len)
        *len = s->len;
    return s->value;
}

/* Length of the registered secret that starts at p, or 0. Caller holds lock. */
static size_t secret_at(const char *p)
{
    for (size_t i = 0; i < secrets_count; i++)
        if (secrets[i].value[0] == *p && strncmp(p, secrets[i].value, secrets[i].len) == 0)
            return secrets[i].len;
    return 0;
}

/* Appends a whole unit (a character, an escape, "***") to dst[*pos], leaving
 * room for the NUL; a unit that does not fit is dropped whole and so is
 * everything after it (*full), so a bound never cuts a character. */
static void put(char *dst, size_t dstlen, size_t *pos, bool *full, const char *s, size_t n)
{
    if (*full || *pos + n >= dstlen) {
        *full = true;
        return;
    }
    memcpy(dst + *pos, s, n);
    *pos += n;
}

/* Bytes of src at p standing for one unit: control characters and bytes of
 * no valid UTF-8 sequence are escaped, valid characters copied. */
static size_t redact_unit(const char *p, char esc[8], const char **unit)
{
    unsigned char c = (unsigned char)*p;
    size_t k = c < 0x80 ? 1 : wm_utf8_seq((const unsigned char *)p, strnlen(p, 4));
    if (c == '\n') {
        *unit = "\\n";
        return 2;
    }
    if (c < 0x20 || c == 0x7f || k == 0) {
        snprintf(esc, 8, "\\x%02x", c);
        *unit = esc;
        return 4;
    }
    *unit = p;
    return k;
}

size_t wm_redact(const char *src, char *dst, size_t dstlen)
{
    size_t pos = 0;
    bool full = false;
    if (dstlen == 0)
        return 0;
    pthread_mutex_lock(&secrets_lock);
    for (const char *p = src; *p && !full;) {
        size_t n = secret_at(p);
        if (n) {
            put(dst, dstlen, &pos, &full, "***", 3);
            p += n;
            continue;
        }
        char esc[8];
        const char *unit;
        size_t k = redact_unit(p, esc, &unit);
        put(dst, dstlen, &pos, &full, unit, k);
        p += unit == p ? k : 1;
    }
    pthread_mutex_unlock(&secrets_lock);
    dst[pos] = '\0';
    return pos;
}

/* --- events --- */

static void format_time(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void wm_logv(enum wm_log_level level, const char *event, const char *fields_fmt, va_list ap)
{
    if (level < log_level)
        return;
    char raw[LOG_LINE_MAX], safe[LOG_LINE_MAX], ts[32];
    format_time(ts, sizeof(ts));
    int n = snprintf(raw, sizeof(raw), "%s level=%s comp=%s event=%s", ts, level_names[level],
                     log_component, event);
    if (n > 0 && (size_t)n < sizeof(raw) - 2 && fields_fmt && *fields_fmt) {
        raw[n++] = ' ';
        vsnprintf(raw + n, sizeof(raw) - (size_t)n, fields_fmt, ap);
    }
    wm_redact(raw, safe, sizeof(safe));
    FILE *out = log_stream ? log_stream : stderr;
    flockfile(out);
    fputs(safe, out);
    fputc('\n', out);
    fflush(out);
    funlockfile(out);
}

void wm_log(enum wm_log_level level, const char *event, const char *fields_fmt, ...)
{
    va_list ap;
    va_start(ap, fields_fmt);
    wm_logv(level, event, fields_fmt, ap);
    va_end(ap);
}
