/* srvset — the per-server settings: the one table of the keys a server (or
 * its wave) may carry in its `settings`, with their kind, default and
 * meaning.  The intake form takes each key as a column, `wavemill server
 * set` validates against it, `server show` prints the effective value and
 * where it comes from, and the worker takes its built-in defaults from it.
 *
 * Where a value comes from, first found wins:
 *   server  servers.settings (intake column or `server set NAME k=v`)
 *   wave    waves.settings   (`server set --wave NAME k=v`)
 *   default the built-in default below, or the worker configuration key
 *           named in def_from (e.g. repl.agent_dir) */
#ifndef WM_SRVSET_H
#define WM_SRVSET_H

#include <stdbool.h>
#include <stddef.h>

enum wm_srvset_kind {
    WM_SRVSET_TEXT,     /* printable text (a command line) */
    WM_SRVSET_ENUM,     /* one of .allowed (comma-separated) */
    WM_SRVSET_PORT,     /* 1-65535 */
    WM_SRVSET_INT,      /* 1-86400 */
    WM_SRVSET_HOSTPORT, /* HOST:PORT */
    WM_SRVSET_PATH,     /* an absolute path */
    WM_SRVSET_ID,       /* letters, digits, '-_.:/' (a cloud id, a name) */
    WM_SRVSET_JSON,     /* a JSON array or object (probes) */
};

struct wm_srvset {
    const char *key;
    enum wm_srvset_kind kind;
    const char *allowed;  /* ENUM: "ssh,local,sim" */
    const char *def;      /* built-in default shown by server show; "" none */
    const char *def_from; /* or: the worker config key holding the default; NULL */
    const char *reader;   /* which step reads it ("stop_source_services") */
    const char *doc;
};

/* The table, *n set to its length. */
const struct wm_srvset *wm_srvset_all(size_t *n);
/* The entry of key, or NULL. */
const struct wm_srvset *wm_srvset_find(const char *key);
/* The built-in default of key ("" when it has none; NULL for an unknown key). */
const char *wm_srvset_default(const char *key);
/* Checks value for s: 0, or -EINVAL with why ("'x' is not one of ssh, local, sim"). */
int wm_srvset_check(const struct wm_srvset *s, const char *value, char *why, size_t whylen);

#endif
