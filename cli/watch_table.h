/* watch_table — what `wavemill watch` shows on a terminal: the latest state
 * of every wave and server seen on wm.status, redrawn in place (top-like)
 * instead of a line per event.
 *
 * The table is bounded (WATCH_TABLE_MAX_ROWS servers, WATCH_TABLE_MAX_WAVES
 * waves; more are counted, not kept).  A wave filter shows one wave's
 * servers; watch_table_next_wave() cycles it (all -> each wave -> all). */
#ifndef WATCH_TABLE_H
#define WATCH_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#define WATCH_TABLE_MAX_ROWS 2000
#define WATCH_TABLE_MAX_WAVES 200

struct wm_status_msg;
struct watch_table;

struct watch_table *watch_table_new(void);
void watch_table_free(struct watch_table *t);

/* Folds one event into the table; true when something shown changed. */
bool watch_table_apply(struct watch_table *t, const struct wm_status_msg *m);

/* Shows only wave (NULL: all). */
void watch_table_filter(struct watch_table *t, const char *wave);
/* The next wave in the filter cycle; returns the wave now shown or NULL (all). */
const char *watch_table_next_wave(struct watch_table *t);

/* Draws the whole table at the top of a cleared screen of rows x cols
 * (rows beyond the screen are summarised on the last line). */
void watch_table_draw(const struct watch_table *t, FILE *out, int rows, int cols);

#endif
