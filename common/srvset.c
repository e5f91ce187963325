/* srvset — see srvset.h. */
#include "srvset.h"

#include "jsonr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRVSET_MAX_VALUE 4096

static const struct wm_srvset table[] = {
    {"transport", WM_SRVSET_ENUM, "ssh,local,sim", "ssh (sim for target_provider sim)", NULL,
     "every step on the source", "how the worker reaches the source"},
    {"replication", WM_SRVSET_ENUM, "wavemill,sim", "wavemill (sim for target_provider sim)", NULL,
     "initial_sync, delta_sync, final_delta_sync", "the replication driver"},
    {"stop_command", WM_SRVSET_TEXT, NULL, "systemctl stop --all wavemill-app.target", NULL,
     "stop_source_services", "stops the applications on the source before the final sync"},
    {"shutdown_command", WM_SRVSET_TEXT, NULL, "systemctl poweroff", NULL, "shutdown_source",
     "shuts the source down at cutover"},
    {"probes", WM_SRVSET_JSON, NULL, "", NULL, "validate",
     "validation probes, JSON: [{\"name\":…,\"type\":\"tcp\"|\"http\"|\"ssh\",…}]"},
    {"agent_dir", WM_SRVSET_PATH, NULL, "", "repl.agent_dir", "install_agent",
     "the agent's folder on the source"},
    {"agent_host", WM_SRVSET_ID, NULL, "the source_host", NULL, "install_agent, syncs",
     "address of the source's agent control port, when not source_host"},
    {"agent_port", WM_SRVSET_PORT, NULL, "", "repl.agent_port", "syncs",
     "the agent's control port"},
    {"receiver", WM_SRVSET_HOSTPORT, NULL, "", "repl.receiver", "syncs",
     "the receiver HOST:PORT as this source reaches it"},
    {"exec_script", WM_SRVSET_PATH, NULL, "", NULL, "provider exec steps",
     "the script of the exec provider"},
    {"exec_timeout_s", WM_SRVSET_INT, NULL, "", NULL, "provider exec steps",
     "seconds the exec provider's script may run"},
    {"aws_credential", WM_SRVSET_ID, NULL, "", "aws.credential", "provider aws steps",
     "stored credential (wavemill secret set) for this server's AWS account"},
    {"hosted_zone_id", WM_SRVSET_ID, NULL, "", "aws.hosted_zone_id", "post_cutover",
     "Route 53 zone of the server's DNS name"},
    {"aws_region", WM_SRVSET_ID, NULL, "", "aws.region", "(recorded; the provider uses aws.region)",
     "the target AWS region (CMF aws_region)"},
    {"aws_account_id", WM_SRVSET_ID, NULL, "", NULL, "(recorded only)",
     "the target AWS account (CMF aws_accountid)"},
    {"test_subnet_id", WM_SRVSET_ID, NULL, "", NULL, "(recorded; tests launch into subnet_id)",
     "subnet of the test instance (CMF subnet_IDs_test)"},
    {"tenancy", WM_SRVSET_ENUM, "Shared,Dedicated,Dedicated host", "", NULL, "(recorded only)",
     "EC2 tenancy (CMF tenancy)"},
};

const struct wm_srvset *wm_srvset_all(size_t *n)
{
    *n = sizeof(table) / sizeof(table[0]);
    return table;
}

const struct wm_srvset *wm_srvset_find(const char *key)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].key, key) == 0)
            return &table[i];
    return NULL;
}

const char *wm_srvset_default(const char *key)
{
    const struct wm_srvset *s = wm_srvset_find(key);
    return s ? s->def : NULL;
}

static bool in_list(const char *list, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, v, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static bool printable(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static int number_in(const char *v, long min, long max)
{
    char *end;
    long n = strtol(v, &end, 10);
    return *v && !*end && isdigit((unsigned char)*v) && n >= min && n <= max;
}

static bool id_ok(const char *v)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.:/", *p))
            return false;
    return *v != '\0';
}

static bool hostport_ok(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || !number_in(colon + 1, 1, 65535))
        return false;
    for (const char *p = v; p < colon; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.[]:", *p))
            return false;
    return true;
}

static bool json_ok(const char *v)
{
    char err[128];
    struct wm_jsonr *j = wm_jsonr_parse(v, strlen(v), NULL, NULL, err, sizeof(err));
    bool ok = j && (*v == '[' || *v == '{');
    wm_jsonr_free(j);
    return ok;
}

int wm_srvset_check(const struct wm_srvset *s, const char *value, char *why, size_t whylen)
{
    const char *v = value ? value : "";
    bool ok = false;
    const char *want = "";
    if (strlen(v) > SRVSET_MAX_VALUE || !printable(v)) {
        snprintf(why, whylen, "setting %s: value longer than %d bytes or with a control character",
                 s->key, SRVSET_MAX_VALUE);
        return -EINVAL;
    }
    switch (s->kind) {
    case WM_SRVSET_TEXT:
        ok = *v != '\0', want = "a non-empty command";
        break;
    case WM_SRVSET_ENUM:
        ok = in_list(s->allowed, v), want = s->allowed;
        break;
    case WM_SRVSET_PORT:
        ok = number_in(v, 1, 65535), want = "a port (1-65535)";
        break;
    case WM_SRVSET_INT:
        ok = number_in(v, 1, 86400), want = "a number of seconds (1-86400)";
        break;
    case WM_SRVSET_HOSTPORT:
        ok = hostport_ok(v), want = "HOST:PORT";
        break;
    case WM_SRVSET_PATH:
        ok = v[0] == '/', want = "an absolute path";
        break;
    case WM_SRVSET_ID:
        ok = id_ok(v), want = "letters, digits and '-_.:/'";
        break;
    case WM_SRVSET_JSON:
        ok = json_ok(v), want = "a JSON array or object";
        break;
    }
    if (ok)
        return 0;
    snprintf(why, whylen, "setting %s: '%.64s' is not %s%s", s->key, v,
             s->kind == WM_SRVSET_ENUM ? "one of " : "", want);
    return -EINVAL;
}
