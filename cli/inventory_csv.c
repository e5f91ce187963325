/* inventory_csv — an RFC 4180 record reader over a buffer in memory.
 *
 * Strict on purpose: a quote inside an unquoted field or text after a
 * closing quote is an error rather than a guess, because a mis-split
 * intake row would silently put values in the wrong columns. */
#include "inventory.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct inv_csv {
    const char *p, *end;
    int line;                       /* line of the next byte */
    char *buf;                      /* unescaped fields, NUL-terminated */
    size_t used;
    char *fields[INV_MAX_FIELDS];
    int nfields;
};

struct inv_csv *inv_csv_new(const char *buf, size_t len)
{
    struct inv_csv *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    /* each field's NUL needs a byte beside the record's own bytes */
    c->buf = malloc(INV_MAX_RECORD_BYTES + INV_MAX_FIELDS + 1);
    if (!c->buf) {
        free(c);
        return NULL;
    }
    c->p = buf;
    c->end = buf + len;
    c->line = 1;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        c->p += 3; /* UTF-8 BOM from spreadsheet exports */
    return c;
}

void inv_csv_free(struct inv_csv *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c);
}

static int emit(struct inv_csv *c, char ch, int start_line, char *err, size_t errlen)
{
    if (c->used >= INV_MAX_RECORD_BYTES) {
        snprintf(err, errlen, "%d: record longer than %u bytes", start_line,
                 INV_MAX_RECORD_BYTES);
        return -E2BIG;
    }
    c->buf[c->used++] = ch;
    return 0;
}

static int end_field(struct inv_csv *c, size_t start, int start_line, char *err, size_t errlen)
{
    if (c->nfields >= INV_MAX_FIELDS) {
        snprintf(err, errlen, "%d: more than %d fields", start_line, INV_MAX_FIELDS);
        return -E2BIG;
    }
    c->buf[c->used++] = '\0'; /* room reserved in inv_csv_new */
    c->fields[c->nfields++] = c->buf + start;
    return 0;
}

/* At a line break?  Consumes it (LF, CRLF or a lone CR) and returns true. */
static bool eat_newline(struct inv_csv *c)
{
    if (c->p < c->end && *c->p == '\r') {
        c->p++;
        if (c->p < c->end && *c->p == '\n')
            c->p++;
        c->line++;
        return true;
    }
    if (c->p < c->end && *c->p == '\n') {
        c->p++;
        c->line++;
        return true;
    }
    return false;
}

/* Quoted field body, after the opening quote, up to and including the closing one. */
static int read_quoted(struct inv_csv *c, int start_line, char *err, size_t errlen)
{
    int qline = c->line;
    for (;;) {
        if (c->p >= c->end) {
            snprintf(err, errlen, "%d: quoted field opened on this line is never closed", qline);
            return -EINVAL;
        }
        char ch = *c->p++;
        if (ch == '"') {
            if (c->p < c->end && *c->p == '"') {
                c->p++;
            } else {
                return 0;
            }
        } else if (ch == '\n' || (ch == '\r' && !(c->p < c->end && *c->p == '\n'))) {
            c->line++;
        } else if (ch == '\0') {
            snprintf(err, errlen, "%d: NUL byte in field", c->line);
            return -EINVAL;
        }
        int rc = emit(c, ch, start_line, err, errlen);
        if (rc)
            return rc;
    }
}

static int read_unquoted(struct inv_csv *c, int start_line, char *err, size_t errlen)
{
    while (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
        char ch = *c->p++;
        if (ch == '"') {
            snprintf(err, errlen, "%d: quote inside an unquoted field (quote the whole field)",
                     c->line);
            return -EINVAL;
        }
        if (ch == '\0') {
            snprintf(err, errlen, "%d: NUL byte in field", c->line);
            return -EINVAL;
        }
        int rc = emit(c, ch, start_line, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* One field; *last is set when it ended the record. */
static int read_field(struct inv_csv *c, int start_line, bool *last, char *err, size_t errlen)
{
    size_t start = c->used;
    int rc;
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        rc = read_quoted(c, start_line, err, errlen);
        if (rc == 0 && c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
            snprintf(err, errlen, "%d: text after a closing quote", c->line);
            rc = -EINVAL;
        }
    } else {
        rc = read_unquoted(c, start_line, err, errlen);
    }
    if (rc == 0)
        rc = end_field(c, start, start_line, err, errlen);
    if (rc)
        return rc;
    if (c->p < c->end && *c->p == ',') {
        c->p++;
        *last = false;
    } else {
        eat_newline(c);
        *last = true;
    }
    return 0;
}

int inv_csv_next(struct inv_csv *c, char ***fields, int *nfields, int *line, char *err,
                 size_t errlen)
{
    for (;;) {
        if (c->p >= c->end)
            return 0;
        if (eat_newline(c))
            continue; /* blank line */
        break;
    }
    c->used = 0;
    c->nfields = 0;
    int start_line = c->line;
    bool last = false;
    while (!last) {
        int rc = read_field(c, start_line, &last, err, errlen);
        if (rc)
            return rc;
    }
    *fields = c->fields;
    *nfields = c->nfields;
    *line = start_line;
    return 1;
}
