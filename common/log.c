/* log — see log.h */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LOG_LINE_MAX 4096
#define SECRETS_MAX 256
#define SECRET_MIN_LEN 4

struct wm_secret {
    size_t len;
    char *value;
};

static enum wm_log_level log_level = WM_LOG_INFO;
static const char *log_component = "wavemill";
static FILE *log_stream;

static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[SECRETS_MAX];
static size_t secrets_count;

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

int wm_log_register_secret(const char *value)
{
    if (!value || strlen(value) < SECRET_MIN_LEN)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&secrets_lock);
    for (size_t i = 0; i < secrets_count; i++) {
        if (strcmp(secrets[i], value) == 0)
            goto out;
    }
    if (secrets_count == SECRETS_MAX) {
        rc = -ENOSPC;
        goto out;
    }
    secrets[secrets_count] = strdup(value);
    if (!secrets[secrets_count])
        rc = -ENOMEM;
    else
        secrets_count++;
out:
    pthread_mutex_unlock(&secrets_lock);
    return rc;
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
    if (wm_log_register_secret(s->value) < 0) {
        wm_secret_free(s);
        return NULL;
    }
    return s;
}

void wm_secret_free(wm_secret *s)
{
    if (!s)
        return;
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
    for (size_t i = 0; i < secrets_count; i++) {
        size_t n = strlen(secrets[i]);
        if (strncmp(p, secrets[i], n) == 0)
            return n;
    }
    return 0;
}

/* Appends s to dst[*pos], leaving room for the NUL. */
static void put(char *dst, size_t dstlen, size_t *pos, const char *s, size_t n)
{
    if (*pos + 1 >= dstlen)
        return;
    if (n > dstlen - 1 - *pos)
        n = dstlen - 1 - *pos;
    memcpy(dst + *pos, s, n);
    *pos += n;
}

size_t wm_redact(const char *src, char *dst, size_t dstlen)
{
    size_t pos = 0;
    if (dstlen == 0)
        return 0;
    pthread_mutex_lock(&secrets_lock);
    for (const char *p = src; *p;) {
        size_t n = secret_at(p);
        if (n) {
            put(dst, dstlen, &pos, "***", 3);
            p += n;
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            char esc[8];
            int m = *p == '\n' ? snprintf(esc, sizeof(esc), "\\n")
                               : snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)*p);
            put(dst, dstlen, &pos, esc, (size_t)m);
            p++;
        } else {
            put(dst, dstlen, &pos, p, 1);
            p++;
        }
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
