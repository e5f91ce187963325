/* sim — the simulation driver: every operation of every role, with
 * a configurable duration per task kind and injected failures.  The first
 * operation of a task does the simulated work (sleeps, in steps that notice
 * task_should_stop, and reports progress for syncs); later operations of the
 * same task return at once.  Everything it produces says "simulated". */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "clock.h"
#include "driver.h"
#include "log.h"
#include "task.h"

#define SIM_KINDS_MAX 32
#define SIM_STEP_MS 50 /* how often a simulated task looks at its stop flag */

static const struct wm_config_key sim_keys[] = {
    {"sim.duration", WM_CFG_DURATION, "1s", 0, 86400000, false,
     "simulated duration of every task kind without its own in sim.durations"},
    {"sim.durations", WM_CFG_STRING, "", 0, 0, false,
     "per-kind durations: kind=DURATION,… (e.g. initial_sync=5s,delta_sync=500ms)"},
    {"sim.fail_rate", WM_CFG_STRING, "0", 0, 0, false,
     "probability (0..1) that an attempt of a kind in sim.fail_kinds fails"},
    {"sim.fail_kinds", WM_CFG_STRING, "", 0, 0, false,
     "kinds sim.fail_rate applies to, comma-separated (empty: every kind)"},
    {"sim.fail_always_kinds", WM_CFG_STRING, "", 0, 0, false,
     "kinds whose every attempt fails, comma-separated"},
    {"sim.fail_first", WM_CFG_INT, "0", 0, 1000, false,
     "attempts 1..N of the kinds in sim.fail_kinds fail (deterministic retries)"},
    {"sim.sync_bytes", WM_CFG_SIZE, "1G", 0, 0, false,
     "bytes a simulated sync pretends to move (progress reports)"},
    {"sim.seed", WM_CFG_INT, "0", 0, 0, false, "random seed (0: from the clock)"},
};

struct sim_kind {
    char kind[48];
    int64_t ms;
};

static struct {
    int64_t duration_ms, sync_bytes;
    double fail_rate;
    int64_t fail_first;
    struct sim_kind durations[SIM_KINDS_MAX];
    size_t ndurations;
    char fail_kinds[1024], fail_always[1024];
    unsigned seed;
} sim;

int sim_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, sim_keys, sizeof(sim_keys) / sizeof(sim_keys[0]), err, errlen);
}

/* "250ms", "2s", "1m", "1h" or bare milliseconds; -1 if malformed. */
static int64_t sim_parse_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (strcmp(end, "") == 0 || strcmp(end, "ms") == 0)
        return (int64_t)v;
    if (strcmp(end, "s") == 0)
        return (int64_t)(v * 1000);
    if (strcmp(end, "m") == 0)
        return (int64_t)(v * 60000);
    if (strcmp(end, "h") == 0)
        return (int64_t)(v * 3600000);
    return -1;
}

static int sim_parse_durations(const char *list, char *err, size_t errlen)
{
    char buf[2048];
    snprintf(buf, sizeof(buf), "%s", list ? list : "");
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        int64_t ms = eq ? sim_parse_ms(eq + 1) : -1;
        if (ms < 0 || sim.ndurations >= SIM_KINDS_MAX || (size_t)(eq - item) >= 48) {
            snprintf(err, errlen, "sim.durations: bad item '%s' (want kind=DURATION)", item);
            return -EINVAL;
        }
        struct sim_kind *k = &sim.durations[sim.ndurations++];
        snprintf(k->kind, sizeof(k->kind), "%.*s", (int)(eq - item), item);
        k->ms = ms;
    }
    return 0;
}

int sim_configure(const struct wm_config *cfg, char *err, size_t errlen)
{
    memset(&sim, 0, sizeof(sim));
    sim.duration_ms = wm_config_int(cfg, "sim.duration");
    sim.sync_bytes = wm_config_int(cfg, "sim.sync_bytes");
    sim.fail_first = wm_config_int(cfg, "sim.fail_first");
    const char *rate = wm_config_str(cfg, "sim.fail_rate");
    char *end;
    sim.fail_rate = strtod(rate ? rate : "0", &end);
    if (!rate || *end || sim.fail_rate < 0 || sim.fail_rate > 1) {
        snprintf(err, errlen, "sim.fail_rate: '%s' is not a probability in [0, 1]",
                 rate ? rate : "");
        return -EINVAL;
    }
    const char *fk = wm_config_str(cfg, "sim.fail_kinds");
    const char *fa = wm_config_str(cfg, "sim.fail_always_kinds");
    snprintf(sim.fail_kinds, sizeof(sim.fail_kinds), ",%s,", fk ? fk : "");
    snprintf(sim.fail_always, sizeof(sim.fail_always), ",%s,", fa ? fa : "");
    int64_t seed = wm_config_int(cfg, "sim.seed");
    sim.seed = seed ? (unsigned)seed : (unsigned)time(NULL);
    return sim_parse_durations(wm_config_str(cfg, "sim.durations"), err, errlen);
}

static bool in_list(const char *list, const char *kind)
{
    char pat[64];
    snprintf(pat, sizeof(pat), ",%s,", kind);
    return strstr(list, pat) != NULL;
}

static int64_t sim_duration_of(const char *kind)
{
    for (size_t i = 0; i < sim.ndurations; i++)
        if (strcmp(sim.durations[i].kind, kind) == 0)
            return sim.durations[i].ms;
    return sim.duration_ms;
}

static bool sim_fails(const char *kind, int attempt)
{
    static _Thread_local unsigned seed;
    static _Thread_local bool seeded;
    if (!seeded) {
        seed = sim.seed ^ (unsigned)(uintptr_t)pthread_self();
        seeded = true;
    }
    if (in_list(sim.fail_always, kind))
        return true;
    if (strcmp(sim.fail_kinds, ",,") != 0 && !in_list(sim.fail_kinds, kind))
        return false;
    if (attempt <= sim.fail_first)
        return true;
    if (sim.fail_rate <= 0)
        return false;
    return (double)rand_r(&seed) / ((double)RAND_MAX + 1.0) < sim.fail_rate;
}

/* The simulated work of a task: once per task, whichever op comes first. */
static int sim_work(struct task_ctx *t, bool sync)
{
    if (t->sim_done)
        return 0;
    t->sim_done = true;
    const char *kind = t->msg.kind;
    int64_t dur = sim_duration_of(kind), total = sync ? sim.sync_bytes : 0;
    int64_t start = wm_mono_ms(), el;
    while ((el = wm_mono_ms() - start) < dur) {
        if (task_should_stop(t))
            return -ECANCELED;
        if (sync)
            task_progress(t, total * el / dur, total);
        wm_sleep_ms(dur - el < SIM_STEP_MS ? dur - el : SIM_STEP_MS);
    }
    if (task_should_stop(t))
        return -ECANCELED;
    if (sync)
        task_progress(t, total, total);
    if (sim_fails(kind, t->msg.attempt))
        return task_fail(t, "simulated failure of %s (sim driver)", kind);
    return 0;
}

static int sim_exec(struct task_ctx *t, const char *cmd, char *out, size_t outlen)
{
    int rc = sim_work(t, false);
    snprintf(out, outlen, "simulated: %s", cmd);
    return rc;
}

static int sim_push(struct task_ctx *t, const char *local, const char *remote)
{
    (void)local;
    (void)remote;
    return sim_work(t, false);
}

static int sim_plain(struct task_ctx *t)
{
    return sim_work(t, false);
}

static int sim_launch(struct task_ctx *t, enum launch_kind kind, char *id, size_t idlen)
{
    snprintf(id, idlen, "sim-%lld-%s", (long long)t->msg.server_id,
             kind == LAUNCH_TEST ? "test" : "cutover");
    return sim_work(t, false);
}

static int sim_check_instance(struct task_ctx *t, enum launch_kind kind)
{
    (void)kind;
    return sim_work(t, false);
}

static int sim_terminate(struct task_ctx *t, enum launch_kind kind)
{
    (void)kind;
    return sim_work(t, false);
}

static int sim_sync(struct task_ctx *t, enum replication_sync_mode mode)
{
    (void)mode;
    return sim_work(t, true);
}

const struct transport_driver sim_transport = {"sim", true, sim_exec, sim_push};
const struct provider_driver sim_provider = {
    .name = "sim",
    .simulated = true,
    .check_target = sim_plain,
    .launch = sim_launch,
    .check_instance = sim_check_instance,
    .switch_network = sim_plain,
    .revert_network = sim_plain,
    .cmdb_update = sim_plain,
    .terminate = sim_terminate,
};
const struct replication_driver sim_replication = {"sim", true, sim_plain, sim_sync, sim_plain,
                                                   sim_plain};
