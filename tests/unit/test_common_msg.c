/* msg: Task and StatusEvent round trips through single-object encoding,
 * including empty, NULL and non-ASCII fields, and decoders refusing
 * messages of the other type. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/* Issue 9: a task error in Latin-1 goes out escaped, valid UTF-8. */
static void test_status_latin1_message_is_sent_escaped(void **state)
{
    (void)state;
    struct wm_status_msg in = full_status, out;
    uint8_t *buf;
    size_t len;
    char err[256];
    in.message = "cp: \xe9" "chec: fichier trop gros";
    assert_int_equal(wm_status_msg_encode(&in, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(wm_status_msg_decode(buf, len, &out, err, sizeof(err)), 0);
    free(buf);
    assert_string_equal(out.message, "cp: \\xe9chec: fichier trop gros");
    wm_status_msg_clear(&out);
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

static void test_clear_accepts_null_and_zeroed(void **state)
{
    (void)state;
    struct wm_task_msg t = {0};
    struct wm_status_msg s = {0};
    wm_task_msg_clear(&t);
    wm_task_msg_clear(NULL);
    wm_status_msg_clear(&s);
    wm_status_msg_clear(NULL);
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
        cmocka_unit_test(test_status_latin1_message_is_sent_escaped),
        cmocka_unit_test(test_decoders_refuse_the_other_type),
        cmocka_unit_test(test_clear_accepts_null_and_zeroed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
