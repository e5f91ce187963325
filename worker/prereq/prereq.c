/* prereq — see prereq.h.  One shell script runs on the source and prints
 * one tagged line per fact; the checks are made here, on the parsed facts,
 * so the rules live in C and the script only reports. */
#include "prereq/prereq.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/transport_ssh.h"

#define PREREQ_OUT_MAX 16384
#define PREREQ_REACH_TIMEOUT_S 3

/* The answer lines of the script, by tag. */
struct answer {
    bool have_df;
    uint64_t df_kib;
    int reach_code; /* -1: no line */
    char reach_text[256];
    bool disk_seen[PREREQ_MAX_DISKS];
};

static bool printable_path(const char *p)
{
    if (!p || !*p || strlen(p) > 1024)
        return false;
    for (; *p; p++)
        if (iscntrl((unsigned char)*p))
            return false;
    return true;
}

static int validate(const struct prereq_spec *sp, char *err, size_t errlen)
{
    if (sp->ndisks < 0 || sp->ndisks > PREREQ_MAX_DISKS || (sp->ndisks && !sp->disks))
        return snprintf(err, errlen, "prereq: 0..%d disks", PREREQ_MAX_DISKS), -EINVAL;
    for (int i = 0; i < sp->ndisks; i++)
        if (!printable_path(sp->disks[i]))
            return snprintf(err, errlen, "prereq: disk %d has a bad path", i), -EINVAL;
    if (!printable_path(sp->agent_dir) || sp->agent_dir[0] != '/')
        return snprintf(err, errlen, "prereq: agent_dir must be an absolute path"), -EINVAL;
    if (sp->receiver_host && (!transport_ssh_host_ok(sp->receiver_host) || sp->receiver_port <= 0 ||
                              sp->receiver_port > 65535))
        return snprintf(err, errlen, "prereq: bad receiver host or port"), -EINVAL;
    return 0;
}

/* Appends fmt to buf; -ENAMETOOLONG when it does not fit. */
static int put(char *buf, size_t cap, const char *fmt, const char *a)
{
    size_t n = strlen(buf);
    int w = snprintf(buf + n, cap - n, fmt, a);
    return w < 0 || (size_t)w >= cap - n ? -ENAMETOOLONG : 0;
}

static int put_quoted(char *buf, size_t cap, const char *s)
{
    return transport_shell_quote(buf, cap, s);
}

static int script_disks(const struct prereq_spec *sp, char *buf, size_t cap)
{
    int rc = 0;
    for (int i = 0; i < sp->ndisks && rc == 0; i++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        rc = put(buf, cap, "d=", "");
        rc = rc ? rc : put_quoted(buf, cap, sp->disks[i]);
        rc = rc ? rc : put(buf, cap, "; i=%s\n", idx);
        rc = rc ? rc
                : put(buf, cap, "%s",
                      "if [ -b \"$d\" ]; then s=$(blockdev --getsize64 \"$d\" 2>/dev/null);"
                      " elif [ -f \"$d\" ]; then s=$(stat -L -c %s \"$d\" 2>/dev/null);"
                      " else s=-; fi\nprintf 'disk %s %s\\n' \"$i\" \"${s:--}\"\n");
    }
    return rc;
}

static int script_reach(const struct prereq_spec *sp, char *buf, size_t cap)
{
    char port[16], to[16];
    if (!sp->receiver_host)
        return 0;
    snprintf(port, sizeof port, "%d", sp->receiver_port);
    snprintf(to, sizeof to, "%d", PREREQ_REACH_TIMEOUT_S);
    int rc = put(buf, cap, "h=", "");
    rc = rc ? rc : put_quoted(buf, cap, sp->receiver_host);
    rc = rc ? rc : put(buf, cap, "; p=%s; ", port);
    rc = rc ? rc : put(buf, cap, "t=%s\n", to);
    rc = rc ? rc
            : put(buf, cap, "%s",
                  "if command -v timeout >/dev/null && command -v bash >/dev/null; then\n"
                  "  r=$(timeout \"$t\" bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' \"$h\" \"$p\" 2>&1); "
                  "c=$?\n"
                  "elif command -v nc >/dev/null; then\n"
                  "  r=$(nc -z -w \"$t\" \"$h\" \"$p\" 2>&1); c=$?\n"
                  "else r='neither bash nor nc on the source'; c=2; fi\n"
                  "r=$(printf '%s\\n' \"$r\" | head -n 1 | cut -c1-300); r=${r##*: }\n"
                  "printf 'reach %s %s\\n' \"$c\" \"$r\"\n");
    return rc;
}

int prereq_script(const struct prereq_spec *sp, char *buf, size_t cap, char *err, size_t errlen)
{
    int rc = validate(sp, err, errlen);
    if (rc < 0)
        return rc;
    buf[0] = '\0';
    rc = put(buf, cap, "%s",
             "LC_ALL=C; export LC_ALL\n"
             "printf 'uname %s\\n' \"$(uname -s 2>/dev/null)\"\n"
             "[ -r /etc/os-release ] && grep -E '^(ID|VERSION_ID|PRETTY_NAME)=' /etc/os-release"
             " | sed 's/^/osr /'\n");
    rc = rc ? rc : script_disks(sp, buf, cap);
    rc = rc ? rc : put(buf, cap, "%s", "a=");
    rc = rc ? rc : put_quoted(buf, cap, sp->agent_dir);
    rc = rc ? rc
            : put(buf, cap, "%s",
                  "\nwhile [ ! -e \"$a\" ]; do a=$(dirname \"$a\"); done\n"
                  "printf 'df %s\\n' \"$(df -Pk \"$a\" 2>/dev/null | awk 'NR==2 {print $4}')\"\n");
    rc = rc ? rc : script_reach(sp, buf, cap);
    rc = rc ? rc : put(buf, cap, "%s", "exit 0\n");
    if (rc < 0)
        snprintf(err, errlen, "prereq: script does not fit in %zu bytes", cap);
    return rc;
}

/* value of KEY=value or KEY="value" into dst */
static void osr_value(const char *v, char *dst, size_t cap)
{
    size_t n = strlen(v);
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
        v++, n -= 2;
    snprintf(dst, cap, "%.*s", (int)n, v);
}

static void parse_line(const char *l, const struct prereq_spec *sp, struct prereq_facts *f,
                       struct answer *a)
{
    int idx, off = 0;
    char size[32];
    if (strncmp(l, "uname ", 6) == 0)
        snprintf(f->os_family, sizeof f->os_family, "%s", l + 6);
    else if (strncmp(l, "osr ID=", 7) == 0)
        osr_value(l + 7, f->os_id, sizeof f->os_id);
    else if (strncmp(l, "osr VERSION_ID=", 15) == 0)
        osr_value(l + 15, f->os_version, sizeof f->os_version);
    else if (strncmp(l, "osr PRETTY_NAME=", 16) == 0)
        osr_value(l + 16, f->os_pretty, sizeof f->os_pretty);
    else if (sscanf(l, "disk %d %31s", &idx, size) == 2 && idx >= 0 && idx < sp->ndisks) {
        a->disk_seen[idx] = true;
        f->disk_size[idx] = size[0] == '-' ? 0 : strtoull(size, NULL, 10);
    } else if (strncmp(l, "df ", 3) == 0 && isdigit((unsigned char)l[3])) {
        a->have_df = true;
        a->df_kib = strtoull(l + 3, NULL, 10);
    } else if (sscanf(l, "reach %d %n", &a->reach_code, &off) == 1) {
        snprintf(a->reach_text, sizeof a->reach_text, "%s", off ? l + off : "");
    }
}

static void parse_output(char *out, const struct prereq_spec *sp, struct prereq_facts *f,
                         struct answer *a)
{
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        parse_line(l, sp, f, a);
}

/* Appends one failed check to err ("; " between them). */
static void fail(char *err, size_t errlen, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(char *err, size_t errlen, const char *check, const char *fmt, ...)
{
    size_t n = strlen(err);
    if (n + 1 >= errlen)
        return;
    n += (size_t)snprintf(err + n, errlen - n, "%sprereq %s: ", n ? "; " : "", check);
    if (n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - n, fmt, ap);
    va_end(ap);
}

static double mib(uint64_t b)
{
    return (double)b / (1024.0 * 1024.0);
}

static void judge(const struct prereq_spec *sp, const struct prereq_facts *f,
                  const struct answer *a, char *err, size_t errlen)
{
    if (!f->os_family[0])
        fail(err, errlen, "os", "uname -s reported nothing");
    else if (sp->os_family && strcmp(sp->os_family, f->os_family) != 0)
        fail(err, errlen, "os", "source runs %s, expected %s", f->os_family, sp->os_family);
    for (int i = 0; i < sp->ndisks; i++) {
        if (!a->disk_seen[i])
            fail(err, errlen, "disk_size", "%s: no answer", sp->disks[i]);
        else if (f->disk_size[i] == 0)
            fail(err, errlen, "disk_size", "%s not found (or empty)", sp->disks[i]);
    }
    if (!a->have_df)
        fail(err, errlen, "agent_space", "cannot read free space at %s", sp->agent_dir);
    else if (f->agent_free < sp->agent_min_free)
        fail(err, errlen, "agent_space", "%s has %.1f MiB free, needs %.1f MiB", sp->agent_dir,
             mib(f->agent_free), mib(sp->agent_min_free));
    if (sp->receiver_host && f->receiver_ok != 1)
        fail(err, errlen, "receiver_reach", "source cannot reach %s:%d (%s)", sp->receiver_host,
             sp->receiver_port,
             a->reach_code == 124 ? "timed out"
             : a->reach_code < 0  ? "no answer"
             : a->reach_text[0]   ? a->reach_text
                                  : "refused");
}

int prereq_check(struct transport *tp, const struct prereq_spec *sp, struct prereq_facts *f,
                 char *err, size_t errlen)
{
    char script[8192];
    memset(f, 0, sizeof *f);
    f->receiver_ok = -1;
    err[0] = '\0';
    int rc = prereq_script(sp, script, sizeof script, err, errlen);
    if (rc < 0)
        return rc;
    char *out = malloc(PREREQ_OUT_MAX);
    struct transport_result *res = malloc(sizeof *res);
    if (!out || !res) {
        free(out), free(res);
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    }
    char terr[512] = "";
    rc = transport_run(tp, script, sp->timeout_ms > 0 ? sp->timeout_ms : 30000, out, PREREQ_OUT_MAX,
                       res, terr, sizeof terr);
    if (rc == 0 && res->exit_code != 0) {
        snprintf(terr, sizeof terr, "check script exited %d: %.200s", res->exit_code, res->errout);
        rc = -EHOSTUNREACH;
    }
    if (rc < 0) {
        snprintf(err, errlen, "prereq reachability: %s", terr);
    } else {
        struct answer a = {.reach_code = -1};
        parse_output(out, sp, f, &a);
        f->agent_free = a.df_kib * 1024;
        if (sp->receiver_host)
            f->receiver_ok = a.reach_code == 0;
        judge(sp, f, &a, err, errlen);
        rc = err[0] ? -EPERM : 0;
    }
    free(out), free(res);
    return rc;
}
