/* msg: Task and StatusEvent round trips through single-object encoding,
 * including empty, NULL and non-ASCII fields and random values of every
 * field, and decoders refusing messages of the other type.  (Random bytes
 * and mutated messages: test_common_avro.c.) */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "avro.h"
#include "msg.h"

static void assert_str_eq_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static struct wm_kv full_params[] = {
    {"disk", "/dev/vdb"},
    {"generation", "7"},
    {"note", "d\xc3\xa9j\xc3\xa0 vu \xe6\xb3\xa2 \xf0\x9f\x9a\x80"}, /* déjà vu 波 🚀 */
    {"empty", ""},
};

static const struct wm_task_msg full_task = {
    .task_id = 9007199254740993LL, /* > 2^53: must survive exactly */
    .attempt = 3,
    .wave_id = 12,
    .wave = "wave-2026-12 \xc3\xa9t\xc3\xa9",
    .server_id = 4242,
    .server = "db01.example.com",
    .kind = "initial_sync",
    .params = full_params,
    .nparams = 4,
    .deadline_ms = 1795000000123LL,
    .published_ms = 1794990000456LL,
};

static void assert_task_eq(const struct wm_task_msg *a, const struct wm_task_msg *b)
{
    assert_int_equal(a->task_id, b->task_id);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->wave_id, b->wave_id);
    assert_string_equal(a->wave ? a->wave : "", b->wave);
    assert_int_equal(a->server_id, b->server_id);
    assert_string_equal(a->server ? a->server : "", b->server);
    assert_string_equal(a->kind ? a->kind : "", b->kind);
    assert_int_equal(a->deadline_ms, b->deadline_ms);
    assert_int_equal(a->published_ms, b->published_ms);
    assert_int_equal(a->nparams, b->nparams);
    for (size_t i = 0; i < a->nparams; i++)
        assert_string_equal(wm_task_msg_param(b, a->params[i].key), a->params[i].value);
}

static void task_round_trip(const struct wm_task_msg *in)
{
    uint8_t *buf;
    size_t len;
    char err[256];
    struct wm_task_msg out;

    assert_int_equal(wm_task_msg_encode(in, &buf, &len, err, sizeof(err)), 0);
    assert_true(len >= WM_AVRO_HEADER_LEN);
    assert_int_equal(buf[0], 0xc3);
    assert_int_equal(buf[1], 0x01);
    assert_int_equal(wm_task_msg_decode(buf, len, &out, err, sizeof(err)), 0);
    assert_task_eq(in, &out);
    wm_task_msg_clear(&out);
    assert_null(out.wave);
    assert_int_equal(out.nparams, 0);
    free(buf);
}

static void test_task_round_trip_all_fields(void **state)
{
    (void)state;
    task_round_trip(&full_task);
}

static void test_task_round_trip_empty_and_null_fields(void **state)
{
    (void)state;
    struct wm_task_msg empty = {0}; /* NULL strings go out as "" */
    task_round_trip(&empty);

    struct wm_task_msg neg = full_task;
    neg.task_id = INT64_MIN;
    neg.attempt = INT32_MAX;
    neg.wave_id = INT64_MAX;
    neg.server_id = -1;
    neg.params = NULL;
    neg.nparams = 0;
    neg.deadline_ms = 0; /* none: encoded as null */
    task_round_trip(&neg);
}

static void test_task_param_lookup(void **state)
{
    (void)state;
    assert_string_equal(wm_task_msg_param(&full_task, "generation"), "7");
    assert_string_equal(wm_task_msg_param(&full_task, "empty"), "");
    assert_null(wm_task_msg_param(&full_task, "absent"));
    assert_null(wm_task_msg_param(&full_task, NULL));
}

static const struct wm_status_msg full_status = {
    .event_id = "5f0c8a9e-3d1b-4c7a-9e2f-0a1b2c3d4e5f",
    .time_ms = 1794990001000LL,
    .source = "worker:w-3",
    .type = "progress",
    .wave = "wave-1",
    .server = "\xd0\xb2\xd0\xb5\xd0\xb1-01", /* "веб-01" */
    .task_id = 77,
    .task_kind = "delta_sync",
    .attempt = 2,
    .state = "RUNNING",
    .bytes_done = 123456789012LL,
    .bytes_total = 999999999999LL,
    .message = "line one\nline \"two\" \xe2\x9c\x93",
    .simulated = true,
};

static void assert_status_eq(const struct wm_status_msg *a, const struct wm_status_msg *b)
{
    if (a->event_id)
        assert_string_equal(a->event_id, b->event_id);
    assert_int_equal(a->time_ms, b->time_ms);
    assert_string_equal(a->source ? a->source : "", b->source);
    assert_string_equal(a->type ? a->type : "", b->type);
    assert_str_eq_or_null(a->wave, b->wave);
    assert_str_eq_or_null(a->server, b->server);
    assert_int_equal(a->task_id, b->task_id);
    assert_str_eq_or_null(a->task_kind, b->task_kind);
    assert_int_equal(a->attempt, b->attempt);
    assert_string_equal(a->state ? a->state : "", b->state);
    assert_int_equal(a->bytes_done, b->bytes_done);
    assert_int_equal(a->bytes_total, b->bytes_total);
    assert_str_eq_or_null(a->message, b->message);
    assert_int_equal(a->simulated, b->simulated);
}

static void status_round_trip(const struct wm_status_msg *in, struct wm_status_msg *out)
{
    uint8_t *buf;
    size_t len;
    char err[256];

    assert_int_equal(wm_status_msg_encode(in, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(wm_status_msg_decode(buf, len, out, err, sizeof(err)), 0);
    assert_status_eq(in, out);
    free(buf);
}

static void test_status_round_trip_all_fields(void **state)
{
    (void)state;
    struct wm_status_msg out;
    status_round_trip(&full_status, &out);
    wm_status_msg_clear(&out);
    assert_null(out.event_id);
}

static void test_status_round_trip_nulls(void **state)
{
    (void)state;
    struct wm_status_msg in = {
        .event_id = "", .time_ms = 1, .source = "cli", .type = "wave", .state = "PLANNED"};
    struct wm_status_msg out;

    status_round_trip(&in, &out);
    assert_null(out.wave);
    assert_null(out.server);
    assert_null(out.task_kind);
    assert_null(out.message);
    assert_int_equal(out.task_id, 0);
    assert_false(out.simulated);
    wm_status_msg_clear(&out);

    /* empty strings stay empty strings, not null */
    in.wave = in.server = in.message = "";
    status_round_trip(&in, &out);
    assert_string_equal(out.wave, "");
    assert_string_equal(out.message, "");
    wm_status_msg_clear(&out);
}

static void test_status_null_event_id_gets_a_uuid(void **state)
{
    (void)state;
    struct wm_status_msg in = full_status, a, b;

    in.event_id = NULL;
    status_round_trip(&in, &a);
    status_round_trip(&in, &b);
    assert_int_equal(strlen(a.event_id), 36);
    assert_int_equal(a.event_id[14], '4'); /* version 4 */
    assert_int_equal(a.event_id[8], '-');
    assert_string_not_equal(a.event_id, b.event_id);
    wm_status_msg_clear(&a);
    wm_status_msg_clear(&b);
}

static void test_decoders_refuse_the_other_type(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    struct wm_task_msg t;
    struct wm_status_msg s;

    assert_int_equal(wm_status_msg_encode(&full_status, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(wm_task_msg_decode(buf, len, &t, err, sizeof(err)), -EPROTOTYPE);
    assert_non_null(strstr(err, "wavemill.Task"));
    assert_null(t.wave);
    free(buf);

    assert_int_equal(wm_task_msg_encode(&full_task, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(wm_status_msg_decode(buf, len, &s, err, sizeof(err)), -EPROTOTYPE);
    assert_null(s.event_id);
    free(buf);
}

/* clear accepts NULL and a zeroed struct, and leaves a decoded one zeroed
 * (so a second clear is harmless) */
static void test_clear_accepts_null_and_zeroed(void **state)
{
    (void)state;
    static const struct wm_task_msg tzero;
    static const struct wm_status_msg szero;
    struct wm_task_msg t = {0};
    struct wm_status_msg s = {0};
    uint8_t *buf;
    size_t len;

    wm_task_msg_clear(&t);
    wm_task_msg_clear(NULL);
    wm_status_msg_clear(&s);
    wm_status_msg_clear(NULL);
    assert_memory_equal(&t, &tzero, sizeof(t));
    assert_memory_equal(&s, &szero, sizeof(s));

    assert_int_equal(wm_task_msg_encode(&full_task, &buf, &len, NULL, 0), 0);
    assert_int_equal(wm_task_msg_decode(buf, len, &t, NULL, 0), 0);
    free(buf);
    wm_task_msg_clear(&t);
    assert_memory_equal(&t, &tzero, sizeof(t));
    wm_task_msg_clear(&t);
    assert_int_equal(wm_status_msg_encode(&full_status, &buf, &len, NULL, 0), 0);
    assert_int_equal(wm_status_msg_decode(buf, len, &s, NULL, 0), 0);
    free(buf);
    wm_status_msg_clear(&s);
    assert_memory_equal(&s, &szero, sizeof(s));
}

/* ----------------------------------------------- random values */

static uint64_t rng_state = 0x2545f4914f6cdd1dULL; /* fixed seed: reproducible */

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* a number from the edges as often as from the middle */
static int64_t rand_i64(void)
{
    static const int64_t edge[] = {0, 1, -1, INT64_MIN, INT64_MAX, INT32_MIN, INT32_MAX, 1LL << 53};
    return rng() % 2 ? edge[rng() % 8] : (int64_t)rng() >> (rng() % 64);
}

/* UTF-8 text of 0..24 code points from all planes, no NUL or surrogate */
static char *rand_text(char *out, size_t cap)
{
    size_t n = 0, cps = (size_t)(rng() % 25);
    for (size_t i = 0; i < cps && n + 4 < cap; i++) {
        static const uint32_t top[] = {0x7f, 0x7ff, 0xffff, 0x10ffff};
        uint32_t cp = 1 + (uint32_t)(rng() % top[rng() % 4]);
        if (cp >= 0xd800 && cp <= 0xdfff)
            cp = 'x';
        if (cp < 0x80) {
            out[n++] = (char)cp;
        } else if (cp < 0x800) {
            out[n++] = (char)(0xc0 | cp >> 6);
            out[n++] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            out[n++] = (char)(0xe0 | cp >> 12);
            out[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
            out[n++] = (char)(0x80 | (cp & 0x3f));
        } else {
            out[n++] = (char)(0xf0 | cp >> 18);
            out[n++] = (char)(0x80 | (cp >> 12 & 0x3f));
            out[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
            out[n++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    out[n] = '\0';
    return out;
}

/* Random values of every field (edges of each integer, empty and
 * multi-byte strings, NULL optionals, up to 8 params) decode to exactly
 * what was encoded. */
static void test_random_values_round_trip(void **state)
{
    (void)state;
    char text[12][128], keys[8][140], vals[8][128];
    struct wm_kv kv[8];

    for (int i = 0; i < 500; i++) {
        struct wm_task_msg t = {
            .task_id = rand_i64(),
            .attempt = (int32_t)rand_i64(),
            .wave_id = rand_i64(),
            .wave = rand_text(text[0], sizeof(text[0])),
            .server_id = rand_i64(),
            .server = rand_text(text[1], sizeof(text[1])),
            .kind = rand_text(text[2], sizeof(text[2])),
            .params = kv,
            .nparams = (size_t)(rng() % 9),
            .deadline_ms = rand_i64(),
            .published_ms = rand_i64(),
        };
        for (size_t k = 0; k < t.nparams; k++) { /* unique keys */
            snprintf(keys[k], sizeof(keys[k]), "%zu%s", k, rand_text(text[11], sizeof(text[11])));
            kv[k] = (struct wm_kv){keys[k], rand_text(vals[k], sizeof(vals[k]))};
        }
        task_round_trip(&t);

        struct wm_status_msg in = {
            .event_id = rand_text(text[3], sizeof(text[3])),
            .time_ms = rand_i64(),
            .source = rand_text(text[4], sizeof(text[4])),
            .type = rand_text(text[5], sizeof(text[5])),
            .wave = rng() % 3 ? rand_text(text[6], sizeof(text[6])) : NULL,
            .server = rng() % 3 ? rand_text(text[7], sizeof(text[7])) : NULL,
            .task_id = rand_i64(),
            .task_kind = rng() % 3 ? rand_text(text[8], sizeof(text[8])) : NULL,
            .attempt = (int32_t)rand_i64(),
            .state = rand_text(text[9], sizeof(text[9])),
            .bytes_done = rand_i64(),
            .bytes_total = rand_i64(),
            .message = rng() % 3 ? rand_text(text[10], sizeof(text[10])) : NULL,
            .simulated = rng() % 2,
        };
        struct wm_status_msg out;
        status_round_trip(&in, &out);
        wm_status_msg_clear(&out);
    }
}

/* Workers encode and decode from several threads at once; the first use
 * (schema registry initialisation) also races here. */
static void *thread_round_trips(void *arg)
{
    uintptr_t bad = 0;
    for (int i = 0; i < 300; i++) {
        struct wm_task_msg in = full_task, out;
        uint8_t *buf;
        size_t len;
        char err[256];
        in.task_id = (int64_t)(uintptr_t)arg * 100000 + i;
        if (wm_task_msg_encode(&in, &buf, &len, err, sizeof(err)) != 0) {
            bad++;
            continue;
        }
        if (wm_task_msg_decode(buf, len, &out, err, sizeof(err)) != 0 ||
            out.task_id != in.task_id || strcmp(out.kind, in.kind) != 0)
            bad++;
        wm_task_msg_clear(&out);
        free(buf);
    }
    return (void *)bad;
}

static void test_concurrent_encode_decode(void **state)
{
    (void)state;
    pthread_t th[4];
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_round_trips, (void *)i), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        assert_int_equal((uintptr_t)bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_encode_decode), /* first: races the lazy init */
        cmocka_unit_test(test_task_round_trip_all_fields),
        cmocka_unit_test(test_task_round_trip_empty_and_null_fields),
        cmocka_unit_test(test_task_param_lookup),
        cmocka_unit_test(test_status_round_trip_all_fields),
        cmocka_unit_test(test_status_round_trip_nulls),
        cmocka_unit_test(test_status_null_event_id_gets_a_uuid),
        cmocka_unit_test(test_decoders_refuse_the_other_type),
        cmocka_unit_test(test_clear_accepts_null_and_zeroed),
        cmocka_unit_test(test_random_values_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
