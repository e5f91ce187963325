/* cli_settings — `wavemill server set|unset` and the settings part of
 * `server show` (see cli_settings.c). */
#ifndef WM_CLI_SETTINGS_H
#define WM_CLI_SETTINGS_H

#include <stdbool.h>

#include <libpq-fe.h>

struct cli_ctx;
struct wm_json;

/* server set / server unset (argv[0] "server", argv[1] "set"|"unset"). */
int cli_settings_set(struct cli_ctx *ctx, int argc, char **argv, bool unset);

/* The settings rows of a server (key, server value, wave value); NULL
 * after printing the reason. */
PGresult *cli_settings_query(struct cli_ctx *ctx, const char *server);
/* {"key": {"value", "from", "default"}, ...} */
void cli_settings_json(struct wm_json *j, const PGresult *r);
/* "    key   value  [from]" lines */
void cli_settings_print(const PGresult *r);

#endif
