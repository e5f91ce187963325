/* avro: CRC-64-AVRO, Parsing Canonical Form (spec examples and the
 * project's schemas), the compiled-in schema registry, single-object
 * framing, and decoders that refuse hostile input without crashing or
 * leaking (run under `make asan`). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/common_avro_examples.h"
#include "avro.h"
#include "msg.h"

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL; /* fixed seed: reproducible */

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A message under construction: header + hand-written datum. */
struct mb {
    uint8_t b[512];
    size_t n;
};

static void put_raw(struct mb *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof(m->b));
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void put_long(struct mb *m, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    do {
        uint8_t byte = (uint8_t)(z & 0x7f);
        z >>= 7;
        if (z)
            byte |= 0x80;
        put_raw(m, &byte, 1);
    } while (z);
}

static void put_str(struct mb *m, const char *s)
{
    put_long(m, (int64_t)strlen(s));
    put_raw(m, s, strlen(s));
}

static void put_header(struct mb *m, const char *schema)
{
    const struct wm_avro_schema *s = wm_avro_schema_get(schema, NULL, 0);
    assert_non_null(s);
    uint64_t fp = wm_avro_schema_fingerprint(s);
    m->n = 0;
    put_raw(m, "\xc3\x01", 2);
    for (int i = 0; i < 8; i++) {
        uint8_t byte = (uint8_t)(fp >> (8 * i));
        put_raw(m, &byte, 1);
    }
}

/* Header and the first fields of a Task: task_id, attempt, wave_id. */
static void task_prefix(struct mb *m)
{
    put_header(m, "task");
    put_long(m, 42);
    put_long(m, 1);
    put_long(m, 7);
}

/* ... then wave, server_id, server, kind: up to the params map. */
static void task_prefix_to_params(struct mb *m)
{
    task_prefix(m);
    put_str(m, "w");
    put_long(m, 9);
    put_str(m, "s");
    put_str(m, "k");
}

static int decode_task(const struct mb *m, char *err, size_t errlen)
{
    struct wm_task_msg t;
    int rc = wm_task_msg_decode(m->b, m->n, &t, err, errlen);
    wm_task_msg_clear(&t);
    return rc;
}

/* A failing decode returns rc and says why. */
static void expect_task_error(const struct mb *m, int rc, const char *why)
{
    char err[256] = "";
    assert_int_equal(decode_task(m, err, sizeof(err)), rc);
    if (!strstr(err, why))
        fail_msg("error \"%s\" does not mention \"%s\"", err, why);
}

/* ---------------------------------------------- CRC and canonical form */

static void test_crc64_of_empty_and_int(void **state)
{
    (void)state;
    assert_true(wm_avro_crc64(NULL, 0) == WM_AVRO_CRC64_EMPTY);
    assert_true(wm_avro_crc64("\"int\"", 5) == 0x7275d51a3f395c8fULL);
}

static void test_canonical_form_of_spec_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < common_avro_examples_count; i++) {
        const struct common_avro_example *e = &common_avro_examples[i];
        char *canon = NULL, err[256] = "";
        uint64_t fp = 0;
        int rc = wm_avro_canonical(e->json, strlen(e->json), &canon, err, sizeof(err));
        if (rc != 0)
            fail_msg("example %zu: %s", i, err);
        assert_string_equal(canon, e->canonical);
        free(canon);
        assert_int_equal(wm_avro_fingerprint(e->json, strlen(e->json), &fp, err, sizeof(err)), 0);
        if (fp != e->fingerprint)
            fail_msg("example %zu: fingerprint %016llx, want %016llx", i, (unsigned long long)fp,
                     (unsigned long long)e->fingerprint);
    }
}

/* Cases fastavro does not accept but the specification's rules cover. */
static void test_canonical_form_integers_strings_whitespace(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {" { \"size\" : \"016\" ,\n\t\"name\" : \"F\", \"type\" : \"fixed\" } ",
         "{\"name\":\"F\",\"type\":\"fixed\",\"size\":16}"},
        {"{\"type\":\"fixed\",\"name\":\"Z\",\"size\":0}",
         "{\"name\":\"Z\",\"type\":\"fixed\",\"size\":0}"},
        {"{\"type\":\"error\",\"name\":\"Oops\",\"fields\":[]}",
         "{\"name\":\"Oops\",\"type\":\"record\",\"fields\":[]}"},
        {"[\"null\",{\"type\":\"string\"},\"n.\\u0052\"]", "[\"null\",\"string\",\"n.R\"]"},
        {"{\"type\":{\"type\":\"map\",\"values\":\"bytes\"}}",
         "{\"type\":\"map\",\"values\":\"bytes\"}"},
        {"{\"type\":\"record\",\"name\":\"R\",\"doc\":\"\\u0000\\ud83d\\ude80\",\"fields\":[]}",
         "{\"name\":\"R\",\"type\":\"record\",\"fields\":[]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *canon = NULL, err[256] = "";
        if (wm_avro_canonical(cases[i][0], strlen(cases[i][0]), &canon, err, sizeof(err)) != 0)
            fail_msg("case %zu: %s", i, err);
        assert_string_equal(canon, cases[i][1]);
        free(canon);
    }
}

static void test_canonical_form_rejects_bad_schemas(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{",
        "\"int\" x",
        "\"unterminated",
        "\"bad \\x escape\"",
        "\"\\ud800\"",
        "{\"type\":\"record\",\"name\":\"R\"}",
        "{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"type\":\"int\"}]}",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}",
        "{\"type\":\"fixed\",\"name\":\"F\"}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":1-2}",
        "{\"name\":\"x\"}",
        "\"in valid\"",
        "{\"type\":\"int\",\"type\":\"long\"}",
        "{\"type\":\"array\"}",
        "42",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"int\""
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *canon = (char *)"untouched", err[256] = "";
        int rc = wm_avro_canonical(bad[i], strlen(bad[i]), &canon, err, sizeof(err));
        if (rc != -EINVAL)
            fail_msg("bad schema %zu accepted (rc %d): %s", i, rc, bad[i]);
        assert_null(canon);
        assert_true(err[0] != '\0');
    }
    char *canon;
    assert_int_equal(wm_avro_canonical("\"int\"\0x", 7, &canon, NULL, 0), -EINVAL);
}

/* The project's schemas, pinned: a change to them must be deliberate
 * (status.avsc is a public interface; fastavro re-checks these in
 * test_common_avro_interop). */
static void test_project_schemas_canonical_form(void **state)
{
    (void)state;
    static const char task[] =
        "{\"name\":\"wavemill.Task\",\"type\":\"record\",\"fields\":[{\"name\":\"task_id\","
        "\"type\":"
        "\"long\"},{\"name\":\"attempt\",\"type\":\"int\"},{\"name\":\"wave_id\",\"type\":\"long\"}"
        ","
        "{\"name\":\"wave\",\"type\":\"string\"},{\"name\":\"server_id\",\"type\":\"long\"},{"
        "\"name\":\"server\",\"type\":\"string\"},{\"name\":\"kind\",\"type\":\"string\"},{"
        "\"name\":"
        "\"params\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},{\"name\":\"deadline\","
        "\"type\":[\"null\",\"long\"]},{\"name\":\"published_at\",\"type\":\"long\"}]}";
    static const char status[] =
        "{\"name\":\"wavemill.StatusEvent\",\"type\":\"record\",\"fields\":[{\"name\":\"event_id\","
        "\"type\":\"string\"},{\"name\":\"time\",\"type\":\"long\"},{\"name\":\"source\",\"type\":"
        "\"string\"},{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"wave\",\"type\":[\"null\","
        "\"string\"]},{\"name\":\"server\",\"type\":[\"null\",\"string\"]},{\"name\":\"task_id\","
        "\"type\":[\"null\",\"long\"]},{\"name\":\"task_kind\",\"type\":[\"null\",\"string\"]},{"
        "\"name\":\"attempt\",\"type\":[\"null\",\"int\"]},{\"name\":\"state\",\"type\":\"string\"}"
        ","
        "{\"name\":\"bytes_done\",\"type\":\"long\"},{\"name\":\"bytes_total\",\"type\":\"long\"},{"
        "\"name\":\"message\",\"type\":[\"null\",\"string\"]},{\"name\":\"simulated\",\"type\":"
        "\"boolean\"}]}";
    char err[256] = "";
    const struct wm_avro_schema *t = wm_avro_schema_get("task", err, sizeof(err));
    const struct wm_avro_schema *s = wm_avro_schema_get("status", err, sizeof(err));

    assert_non_null(t);
    assert_non_null(s);
    assert_string_equal(wm_avro_schema_canonical(t), task);
    assert_string_equal(wm_avro_schema_canonical(s), status);
    /* values computed by fastavro 1.13.1 */
    assert_true(wm_avro_schema_fingerprint(t) == 0xd519472086c0a261ULL);
    assert_true(wm_avro_schema_fingerprint(s) == 0x23dba21a1f2dcf64ULL);
}

/* ------------------------------------------------------------ registry */

static void test_registry_lookups(void **state)
{
    (void)state;
    char err[256] = "";
    const struct wm_avro_schema *t = wm_avro_schema_get("wavemill.Task", err, sizeof(err));

    assert_non_null(t);
    assert_ptr_equal(t, wm_avro_schema_get("task", NULL, 0));
    assert_string_equal(wm_avro_schema_name(t), "task");
    assert_string_equal(wm_avro_schema_fullname(t), "wavemill.Task");
    assert_ptr_equal(wm_avro_schema_by_fingerprint(wm_avro_schema_fingerprint(t)), t);
    assert_int_equal(avro_typeof(wm_avro_schema_avro(t)), AVRO_RECORD);
    assert_null(wm_avro_schema_by_fingerprint(12345));
    assert_null(wm_avro_schema_get("wavemill.Nope", err, sizeof(err)));
    assert_non_null(strstr(err, "wavemill.Nope"));
    assert_true(wm_schema_sources_count >= 2);
    assert_null(wm_schema_sources[wm_schema_sources_count].name);
}

static void test_encode_refuses_value_of_another_schema(void **state)
{
    (void)state;
    avro_schema_t is = avro_schema_int();
    avro_value_iface_t *iface = avro_generic_class_from_schema(is);
    avro_value_t v;
    uint8_t *out = (uint8_t *)"x";
    size_t len = 1;
    char err[256] = "";

    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    assert_int_equal(
        wm_avro_encode(wm_avro_schema_get("task", NULL, 0), &v, &out, &len, err, sizeof(err)),
        -EINVAL);
    assert_null(out);
    assert_int_equal(len, 0);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(is);
}

static void test_generic_decode_reports_schema(void **state)
{
    (void)state;
    struct wm_status_msg m = {.event_id = "e", .source = "cli", .type = "wave", .state = "X"};
    uint8_t *buf;
    size_t len;
    uint64_t fp;
    avro_value_t v, f;
    const struct wm_avro_schema *which = NULL;
    const char *str;
    size_t size;

    assert_int_equal(wm_status_msg_encode(&m, &buf, &len, NULL, 0), 0);
    assert_int_equal(wm_avro_peek_fingerprint(buf, len, &fp), 0);
    assert_ptr_equal(wm_avro_schema_by_fingerprint(fp), wm_avro_schema_get("status", NULL, 0));
    assert_int_equal(wm_avro_decode(buf, len, NULL, &v, &which, NULL, 0), 0);
    assert_ptr_equal(which, wm_avro_schema_get("status", NULL, 0));
    assert_int_equal(avro_value_get_by_name(&v, "state", &f, NULL), 0);
    assert_int_equal(avro_value_get_string(&f, &str, &size), 0);
    assert_string_equal(str, "X");
    avro_value_decref(&v);
    free(buf);
}

/* ----------------------------------------------------------- bad input */

static void valid_task_message(uint8_t **buf, size_t *len)
{
    struct wm_kv kv[] = {{"disk", "/dev/vdb"}, {"gen", "\xc3\xa9t\xc3\xa9"}};
    struct wm_task_msg t = {.task_id = 1,
                            .attempt = 2,
                            .wave_id = 3,
                            .wave = "w",
                            .server_id = 4,
                            .server = "s",
                            .kind = "delta_sync",
                            .params = kv,
                            .nparams = 2,
                            .deadline_ms = 99,
                            .published_ms = 98};
    assert_int_equal(wm_task_msg_encode(&t, buf, len, NULL, 0), 0);
}

static void valid_status_message(uint8_t **buf, size_t *len)
{
    struct wm_status_msg s = {.event_id = "id",
                              .time_ms = 5,
                              .source = "cli",
                              .type = "task",
                              .wave = "w",
                              .server = "s",
                              .task_id = 9,
                              .task_kind = "k",
                              .attempt = 1,
                              .state = "DONE",
                              .bytes_done = 1,
                              .bytes_total = 2,
                              .message = "m",
                              .simulated = true};
    assert_int_equal(wm_status_msg_encode(&s, buf, len, NULL, 0), 0);
}

static void test_every_truncation_is_an_error(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    char err[256];
    struct wm_task_msg t;
    struct wm_status_msg s;

    valid_task_message(&buf, &len);
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees over-reads */
        memcpy(copy, buf, n);
        err[0] = '\0';
        assert_int_equal(wm_task_msg_decode(copy, n, &t, err, sizeof(err)), -EBADMSG);
        assert_true(err[0] != '\0');
        free(copy);
    }
    free(buf);

    valid_status_message(&buf, &len);
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        assert_int_equal(wm_status_msg_decode(copy, n, &s, err, sizeof(err)), -EBADMSG);
        free(copy);
    }
    assert_int_equal(wm_status_msg_decode(NULL, 0, &s, err, sizeof(err)), -EBADMSG);
    free(buf);
}

static void test_wrong_magic_unknown_fingerprint_trailing_bytes(void **state)
{
    (void)state;
    uint8_t *buf, *longer;
    size_t len;
    char err[256];
    struct wm_task_msg t;

    valid_task_message(&buf, &len);
    buf[1] = 0x00;
    assert_int_equal(wm_task_msg_decode(buf, len, &t, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "magic"));
    buf[1] = 0x01;
    buf[0] = 0x4f; /* 'O': an Avro container file, not a single object */
    assert_int_equal(wm_task_msg_decode(buf, len, &t, err, sizeof(err)), -EBADMSG);
    buf[0] = 0xc3;
    buf[9] ^= 0x40;
    assert_int_equal(wm_task_msg_decode(buf, len, &t, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "unknown schema fingerprint"));
    buf[9] ^= 0x40;
    assert_int_equal(wm_task_msg_decode(buf, len, &t, err, sizeof(err)), 0);
    wm_task_msg_clear(&t);

    /* the size limit is checked before a byte is read */
    assert_int_equal(wm_task_msg_decode(buf, (size_t)WM_AVRO_MAX_MSG + 1, &t, err, sizeof(err)),
                     -EBADMSG);
    assert_non_null(strstr(err, "exceeds the limit"));

    longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(wm_task_msg_decode(longer, len + 1, &t, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "trailing bytes"));
    free(longer);
    free(buf);
}

static void test_hostile_string_lengths(void **state)
{
    (void)state;
    struct mb m;

    task_prefix(&m);
    put_long(&m, -5);
    put_raw(&m, "abcdef", 6);
    expect_task_error(&m, -EBADMSG, "negative length");

    task_prefix(&m);
    put_long(&m, INT64_C(1) << 62);
    put_raw(&m, "abc", 3);
    expect_task_error(&m, -EBADMSG, "beyond the end");

    task_prefix(&m);
    put_long(&m, INT64_MAX);
    expect_task_error(&m, -EBADMSG, "beyond the end");

    task_prefix(&m);
    put_long(&m, 4); /* one more than what follows */
    put_raw(&m, "abc", 3);
    expect_task_error(&m, -EBADMSG, "beyond the end");

    task_prefix(&m);
    put_str(&m, "bad \xff utf8");
    expect_task_error(&m, -EBADMSG, "UTF-8");

    task_prefix(&m);
    put_long(&m, 3);
    put_raw(&m, "a\0b", 3);
    expect_task_error(&m, -EBADMSG, "NUL");

    task_prefix(&m);
    put_str(&m, "\xed\xa0\x80"); /* UTF-16 surrogate encoded as UTF-8 */
    expect_task_error(&m, -EBADMSG, "UTF-8");
}

static void test_hostile_map_blocks(void **state)
{
    (void)state;
    struct mb m;

    task_prefix_to_params(&m);
    put_long(&m, INT64_C(1) << 60);
    put_str(&m, "k");
    put_str(&m, "v");
    expect_task_error(&m, -EBADMSG, "block count");

    task_prefix_to_params(&m);
    put_long(&m, INT64_MIN);
    expect_task_error(&m, -EBADMSG, "block count");

    task_prefix_to_params(&m);
    put_long(&m, -1); /* negative count: byte size follows */
    put_long(&m, INT64_C(1) << 60);
    expect_task_error(&m, -EBADMSG, "beyond the end");

    task_prefix_to_params(&m);
    put_long(&m, -1);
    put_long(&m, -3);
    expect_task_error(&m, -EBADMSG, "negative length");

    task_prefix_to_params(&m);
    put_long(&m, -1);
    put_long(&m, 3); /* the entry takes 5 bytes */
    put_str(&m, "k");
    put_str(&m, "vv");
    put_long(&m, 0);
    put_long(&m, 0);
    put_long(&m, 1);
    expect_task_error(&m, -EBADMSG, "block size");

    task_prefix_to_params(&m);
    put_long(&m, 1);
    put_long(&m, -2); /* key length */
    expect_task_error(&m, -EBADMSG, "negative length");
}

static void test_hostile_varints_and_unions(void **state)
{
    (void)state;
    struct mb m;

    put_header(&m, "task");
    put_raw(&m, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11); /* 11-byte varint */
    expect_task_error(&m, -EBADMSG, "varint");

    put_header(&m, "task");
    put_raw(&m, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10); /* > 64 bits */
    expect_task_error(&m, -EBADMSG, "64 bits");

    put_header(&m, "task");
    put_long(&m, 1);
    put_long(&m, INT64_C(1) << 40); /* attempt is an int */
    expect_task_error(&m, -EBADMSG, "int");

    for (int64_t branch = -1; branch <= 2; branch += 3) {
        task_prefix_to_params(&m);
        put_long(&m, 0);      /* empty params */
        put_long(&m, branch); /* deadline: ["null","long"] has branches 0 and 1 */
        put_long(&m, 5);
        put_long(&m, 6);
        expect_task_error(&m, -EBADMSG, "union branch");
    }
}

/* The hand-written datums above are right: the same bytes with sane values
 * decode, including a map block written with a negative count. */
static void test_hand_written_datum_decodes(void **state)
{
    (void)state;
    struct mb m;
    struct wm_task_msg t;
    char err[256] = "";

    task_prefix_to_params(&m);
    put_long(&m, -1); /* one entry of 5 bytes */
    put_long(&m, 5);
    put_str(&m, "k");
    put_str(&m, "vv");
    put_long(&m, 1);
    put_str(&m, "x");
    put_str(&m, "");
    put_long(&m, 0);
    put_long(&m, 1);
    put_long(&m, 1000);
    put_long(&m, 2000);
    if (wm_task_msg_decode(m.b, m.n, &t, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(t.task_id, 42);
    assert_int_equal(t.attempt, 1);
    assert_string_equal(t.kind, "k");
    assert_int_equal(t.nparams, 2);
    assert_string_equal(wm_task_msg_param(&t, "k"), "vv");
    assert_string_equal(wm_task_msg_param(&t, "x"), "");
    assert_int_equal(t.deadline_ms, 1000);
    assert_int_equal(t.published_ms, 2000);
    wm_task_msg_clear(&t);
}

/* A repeated map key (legal on the wire) keeps the last value, no leak. */
static void test_repeated_map_key_keeps_last_value(void **state)
{
    (void)state;
    struct mb m;
    struct wm_task_msg t;
    char err[256] = "";

    task_prefix_to_params(&m);
    put_long(&m, 2);
    put_str(&m, "k");
    put_str(&m, "first");
    put_str(&m, "k");
    put_str(&m, "second");
    put_long(&m, 0);
    put_long(&m, 0);
    put_long(&m, 1);
    if (wm_task_msg_decode(m.b, m.n, &t, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(t.nparams, 1);
    assert_string_equal(wm_task_msg_param(&t, "k"), "second");
    wm_task_msg_clear(&t);
}

/* A generic value whose union branch was never chosen cannot be encoded. */
static void test_encode_refuses_incomplete_value(void **state)
{
    (void)state;
    const struct wm_avro_schema *s = wm_avro_schema_get("task", NULL, 0);
    avro_value_t v;
    uint8_t *out;
    size_t len;
    char err[256] = "";

    assert_int_equal(wm_avro_value_new(s, &v, err, sizeof(err)), 0);
    assert_int_equal(wm_avro_encode(s, &v, &out, &len, err, sizeof(err)), -EINVAL);
    assert_null(out);
    assert_non_null(strstr(err, "wavemill.Task"));
    avro_value_decref(&v);
}

static void test_bad_boolean(void **state)
{
    (void)state;
    struct mb m;
    struct wm_status_msg s;
    char err[256] = "";

    for (int b = 0; b <= 2; b++) {
        put_header(&m, "status");
        put_str(&m, "e");
        put_long(&m, 1);
        put_str(&m, "src");
        put_str(&m, "task");
        for (int i = 0; i < 5; i++)
            put_long(&m, 0); /* five nulls */
        put_str(&m, "S");
        put_long(&m, 0);
        put_long(&m, 0);
        put_long(&m, 0);
        uint8_t byte = (uint8_t)b;
        put_raw(&m, &byte, 1);
        int rc = wm_status_msg_decode(m.b, m.n, &s, err, sizeof(err));
        assert_int_equal(rc, b <= 1 ? 0 : -EBADMSG);
        if (rc == 0)
            assert_int_equal(s.simulated, b == 1);
        wm_status_msg_clear(&s);
    }
}

/* ------------------------------------- what a decoded message must be */

/* UTF-8 by code points (the decoder's check works on lead bytes; this one
 * decodes): shortest form, no surrogates, nothing above U+10FFFF, no NUL. */
static bool is_utf8_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int more;
        if (*p < 0x80) {
            p++;
            continue;
        } else if ((*p & 0xe0) == 0xc0) {
            cp = *p & 0x1fu, more = 1;
        } else if ((*p & 0xf0) == 0xe0) {
            cp = *p & 0x0fu, more = 2;
        } else if ((*p & 0xf8) == 0xf0) {
            cp = *p & 0x07u, more = 3;
        } else {
            return false;
        }
        p++;
        for (int i = 0; i < more; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (*p & 0x3fu);
        }
        static const uint32_t least[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < least[more] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

static void assert_text(const char *what, const char *s, bool may_be_null)
{
    if (!s) {
        if (!may_be_null)
            fail_msg("decoded %s is NULL", what);
        return;
    }
    if (!is_utf8_text(s))
        fail_msg("decoded %s is not UTF-8 text", what);
}

static void assert_same_str(const char *what, const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
        fail_msg("%s changed on re-encoding: \"%s\" -> \"%s\"", what, a ? a : "(null)",
                 b ? b : "(null)");
}

/* A Task that decoded is a valid datum: required strings present, every
 * string UTF-8 text, param keys unique, and it encodes back to a message
 * that decodes to the same values. */
static void assert_valid_task(const struct wm_task_msg *t)
{
    struct wm_task_msg again;
    uint8_t *buf;
    size_t len;
    char err[256] = "";

    assert_text("wave", t->wave, false);
    assert_text("server", t->server, false);
    assert_text("kind", t->kind, false);
    assert_true(t->nparams == 0 || t->params != NULL);
    for (size_t i = 0; i < t->nparams; i++) {
        assert_text("param key", t->params[i].key, false);
        assert_text("param value", t->params[i].value, false);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->params[i].key, t->params[j].key) == 0)
                fail_msg("param key \"%s\" decoded twice", t->params[i].key);
    }
    if (wm_task_msg_encode(t, &buf, &len, err, sizeof(err)) != 0)
        fail_msg("a decoded task does not encode: %s", err);
    if (wm_task_msg_decode(buf, len, &again, err, sizeof(err)) != 0)
        fail_msg("a re-encoded task does not decode: %s", err);
    assert_int_equal(again.task_id, t->task_id);
    assert_int_equal(again.attempt, t->attempt);
    assert_int_equal(again.wave_id, t->wave_id);
    assert_int_equal(again.server_id, t->server_id);
    assert_int_equal(again.deadline_ms, t->deadline_ms);
    assert_int_equal(again.published_ms, t->published_ms);
    assert_same_str("wave", t->wave, again.wave);
    assert_same_str("server", t->server, again.server);
    assert_same_str("kind", t->kind, again.kind);
    assert_int_equal(again.nparams, t->nparams);
    for (size_t i = 0; i < t->nparams; i++)
        assert_same_str(t->params[i].key, t->params[i].value,
                        wm_task_msg_param(&again, t->params[i].key));
    wm_task_msg_clear(&again);
    free(buf);
}

static void assert_valid_status(const struct wm_status_msg *m)
{
    struct wm_status_msg again;
    uint8_t *buf;
    size_t len;
    char err[256] = "";

    assert_text("event_id", m->event_id, false);
    assert_text("source", m->source, false);
    assert_text("type", m->type, false);
    assert_text("state", m->state, false);
    assert_text("wave", m->wave, true);
    assert_text("server", m->server, true);
    assert_text("task_kind", m->task_kind, true);
    assert_text("message", m->message, true);
    if (wm_status_msg_encode(m, &buf, &len, err, sizeof(err)) != 0)
        fail_msg("a decoded status does not encode: %s", err);
    if (wm_status_msg_decode(buf, len, &again, err, sizeof(err)) != 0)
        fail_msg("a re-encoded status does not decode: %s", err);
    assert_int_equal(again.time_ms, m->time_ms);
    assert_int_equal(again.task_id, m->task_id);
    assert_int_equal(again.attempt, m->attempt);
    assert_int_equal(again.bytes_done, m->bytes_done);
    assert_int_equal(again.bytes_total, m->bytes_total);
    assert_int_equal(again.simulated, m->simulated);
    assert_same_str("event_id", m->event_id, again.event_id);
    assert_same_str("source", m->source, again.source);
    assert_same_str("type", m->type, again.type);
    assert_same_str("state", m->state, again.state);
    assert_same_str("wave", m->wave, again.wave);
    assert_same_str("server", m->server, again.server);
    assert_same_str("task_kind", m->task_kind, again.task_kind);
    assert_same_str("message", m->message, again.message);
    wm_status_msg_clear(&again);
    free(buf);
}

/* A refused decode says why with one of the documented errnos and leaves
 * the struct cleared. */
static void assert_refused(int rc, const char *err, const void *out, size_t size)
{
    static const uint8_t zero[sizeof(struct wm_status_msg) > sizeof(struct wm_task_msg)
                                  ? sizeof(struct wm_status_msg)
                                  : sizeof(struct wm_task_msg)];
    if (rc != -EBADMSG && rc != -ENOENT && rc != -EPROTOTYPE)
        fail_msg("decode returned %d, not -EBADMSG, -ENOENT or -EPROTOTYPE", rc);
    if (err[0] == '\0')
        fail_msg("decode returned %d without a reason", rc);
    assert_memory_equal(out, zero, size);
}

/* Decodes buf as both types: each either refuses it or yields a valid
 * datum.  Returns how many of the two decoded. */
static int decode_both(const uint8_t *buf, size_t len)
{
    struct wm_task_msg t;
    struct wm_status_msg s;
    char err[256];
    int rc, decoded = 0;

    err[0] = '\0';
    if ((rc = wm_task_msg_decode(buf, len, &t, err, sizeof(err))) == 0) {
        assert_valid_task(&t);
        decoded++;
    } else {
        assert_refused(rc, err, &t, sizeof(t));
    }
    wm_task_msg_clear(&t);
    err[0] = '\0';
    if ((rc = wm_status_msg_decode(buf, len, &s, err, sizeof(err))) == 0) {
        assert_valid_status(&s);
        decoded++;
    } else {
        assert_refused(rc, err, &s, sizeof(s));
    }
    wm_status_msg_clear(&s);
    return decoded;
}

/* Random bytes: without the single-object header both decoders refuse them
 * (-EBADMSG); with a task or status header and a random datum, anything
 * that decodes is a valid datum, and at most the header's type decodes. */
static void test_random_bytes_are_refused(void **state)
{
    (void)state;
    const struct wm_avro_schema *schemas[2] = {wm_avro_schema_get("task", NULL, 0),
                                               wm_avro_schema_get("status", NULL, 0)};
    int headerless = 0;

    for (int i = 0; i < 4000; i++) {
        size_t len = (size_t)(rng() % 160);
        uint8_t *buf = malloc(len ? len : 1);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)rng();
        /* most iterations carry a valid header so the datum checks run */
        if (len >= WM_AVRO_HEADER_LEN && i % 4 != 0) {
            uint64_t fp = wm_avro_schema_fingerprint(schemas[i % 2]);
            buf[0] = 0xc3;
            buf[1] = 0x01;
            for (int k = 0; k < 8; k++)
                buf[2 + k] = (uint8_t)(fp >> (8 * k));
            assert_in_range(decode_both(buf, len), 0, 1);
        } else if (len < 2 || buf[0] != 0xc3 || buf[1] != 0x01) {
            struct wm_task_msg t;
            struct wm_status_msg s;
            char err[256] = "";
            assert_int_equal(wm_task_msg_decode(buf, len, &t, err, sizeof(err)), -EBADMSG);
            assert_non_null(strstr(err, "not an Avro single-object message"));
            assert_int_equal(wm_status_msg_decode(buf, len, &s, err, sizeof(err)), -EBADMSG);
            headerless++;
        }
        free(buf);
    }
    assert_true(headerless > 900); /* the i % 4 == 0 iterations and short ones */
}

/* Valid messages with a few bytes changed: each mutant is refused with
 * -EBADMSG and a reason, or decodes (a change inside a string or a number)
 * to a valid datum.  Both outcomes occur. */
static void test_mutated_messages_never_crash(void **state)
{
    (void)state;
    uint8_t *orig[2];
    size_t len[2];
    int ok = 0;

    valid_task_message(&orig[0], &len[0]);
    valid_status_message(&orig[1], &len[1]);
    for (int i = 0; i < 4000; i++) {
        int which = i % 2;
        uint8_t *buf = malloc(len[which]);
        memcpy(buf, orig[which], len[which]);
        for (int k = 0; k < 1 + (int)(rng() % 3); k++) {
            size_t pos = WM_AVRO_HEADER_LEN + (size_t)(rng() % (len[which] - WM_AVRO_HEADER_LEN));
            buf[pos] = (uint8_t)rng();
        }
        char err[256] = "";
        int rc;
        if (which == 0) {
            struct wm_task_msg t;
            rc = wm_task_msg_decode(buf, len[which], &t, err, sizeof(err));
            if (rc == 0)
                assert_valid_task(&t);
            else
                assert_refused(rc, err, &t, sizeof(t));
            wm_task_msg_clear(&t);
        } else {
            struct wm_status_msg s;
            rc = wm_status_msg_decode(buf, len[which], &s, err, sizeof(err));
            if (rc == 0)
                assert_valid_status(&s);
            else
                assert_refused(rc, err, &s, sizeof(s));
            wm_status_msg_clear(&s);
        }
        if (rc != 0)
            assert_int_equal(rc, -EBADMSG); /* the header was left intact */
        ok += rc == 0;
        free(buf);
    }
    /* some mutations (inside string bytes) stay valid: both paths ran */
    assert_true(ok > 0 && ok < 4000);
    free(orig[0]);
    free(orig[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc64_of_empty_and_int),
        cmocka_unit_test(test_canonical_form_of_spec_examples),
        cmocka_unit_test(test_canonical_form_integers_strings_whitespace),
        cmocka_unit_test(test_canonical_form_rejects_bad_schemas),
        cmocka_unit_test(test_project_schemas_canonical_form),
        cmocka_unit_test(test_registry_lookups),
        cmocka_unit_test(test_encode_refuses_value_of_another_schema),
        cmocka_unit_test(test_generic_decode_reports_schema),
        cmocka_unit_test(test_every_truncation_is_an_error),
        cmocka_unit_test(test_wrong_magic_unknown_fingerprint_trailing_bytes),
        cmocka_unit_test(test_hostile_string_lengths),
        cmocka_unit_test(test_hostile_map_blocks),
        cmocka_unit_test(test_hostile_varints_and_unions),
        cmocka_unit_test(test_hand_written_datum_decodes),
        cmocka_unit_test(test_repeated_map_key_keeps_last_value),
        cmocka_unit_test(test_encode_refuses_incomplete_value),
        cmocka_unit_test(test_bad_boolean),
        cmocka_unit_test(test_random_bytes_are_refused),
        cmocka_unit_test(test_mutated_messages_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
