/* Intake CSV: the RFC 4180 reader and the row validation of inventory.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inventory.h"

#define HDR                                                                                 \
    "wave_name,app_name,server_name,server_fqdn,server_os_family,server_os_version,"       \
    "source_host,source_port,source_user,credential,disks,target_provider,instance_type," \
    "subnet_id,security_group_ids,test_security_group_ids,tags\n"

/* --- CSV reader --- */

struct rec {
    int n, line;
    char **f;
};

static int next(struct inv_csv *c, struct rec *r, char *err, size_t errlen)
{
    return inv_csv_next(c, &r->f, &r->n, &r->line, err, errlen);
}

static void test_csv_quotes_commas_and_embedded_newlines(void **state)
{
    (void)state;
    const char *in = "a,\"b,c\",\"say \"\"hi\"\"\"\n\"multi\nline\",x,\n";
    struct inv_csv *c = inv_csv_new(in, strlen(in));
    struct rec r;
    char err[256];
    assert_int_equal(next(c, &r, err, sizeof(err)), 1);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.f[0], "a");
    assert_string_equal(r.f[1], "b,c");
    assert_string_equal(r.f[2], "say \"hi\"");
    assert_int_equal(r.line, 1);
    assert_int_equal(next(c, &r, err, sizeof(err)), 1);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.f[0], "multi\nline");
    assert_string_equal(r.f[2], "");
    assert_int_equal(r.line, 2);
    assert_int_equal(next(c, &r, err, sizeof(err)), 0);
    inv_csv_free(c);
}

static void test_csv_crlf_bom_blank_lines_and_no_final_newline(void **state)
{
    (void)state;
    const char *in = "\xEF\xBB\xBFh1,h2\r\n\r\nv1,\"v\r\n2\"\r\nlast,row";
    struct inv_csv *c = inv_csv_new(in, strlen(in));
    struct rec r;
    char err[256];
    assert_int_equal(next(c, &r, err, sizeof(err)), 1);
    assert_string_equal(r.f[0], "h1");
    assert_string_equal(r.f[1], "h2");
    assert_int_equal(next(c, &r, err, sizeof(err)), 1);
    assert_int_equal(r.line, 3);
    assert_string_equal(r.f[0], "v1");
    assert_string_equal(r.f[1], "v\r\n2");
    assert_int_equal(next(c, &r, err, sizeof(err)), 1);
    assert_int_equal(r.line, 5);
    assert_string_equal(r.f[1], "row");
    assert_int_equal(next(c, &r, err, sizeof(err)), 0);
    inv_csv_free(c);
}

static void expect_csv_error(const char *in, int rc_want, const char *msg_part)
{
    struct inv_csv *c = inv_csv_new(in, strlen(in));
    struct rec r;
    char err[256] = "";
    int rc;
    while ((rc = next(c, &r, err, sizeof(err))) == 1)
        ;
    assert_int_equal(rc, rc_want);
    if (!strstr(err, msg_part))
        fail_msg("error '%s' does not contain '%s'", err, msg_part);
    inv_csv_free(c);
}

static void test_csv_malformed_quotes_are_errors_with_line(void **state)
{
    (void)state;
    expect_csv_error("a,b\nc,\"open\n", -22, "2: quoted field opened on this line is never closed");
    expect_csv_error("a,b\nc,\"open\"x\n", -22, "2: text after a closing quote");
    expect_csv_error("a,b\nc,d\"e\n", -22, "2: quote inside an unquoted field");
}

static void test_csv_bounds(void **state)
{
    (void)state;
    size_t n = INV_MAX_RECORD_BYTES + 10;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    expect_csv_error(big, -7, "record longer than");
    free(big);
    char many[INV_MAX_FIELDS * 2 + 8] = "";
    for (int i = 0; i <= INV_MAX_FIELDS; i++)
        strcat(many, "a,");
    expect_csv_error(many, -7, "more than 64 fields");
}

/* --- rows --- */

static struct inv_file *parse(const char *text, unsigned flags, char *err, size_t errlen)
{
    return inv_parse("t.csv", text, strlen(text), flags, err, errlen);
}

static void test_parse_good_rows(void **state)
{
    (void)state;
    const char *in = HDR
        "w1,billing,web01,web01.example.com,Linux,9,10.0.0.5,2222,root,ssh-key,"
        "\"/dev/sda:8G;/dev/sdb\",sim,t3.micro,subnet-1,sg-1;sg-2,sg-t,env=prod;owner=ops\n"
        "w1,billing,db01,,windows,,db01.local,,,,C:,aws,,,,,\n";
    char err[512];
    struct inv_file *f = parse(in, 0, err, sizeof(err));
    if (!f)
        fail_msg("%s", err);
    assert_int_equal(f->nrows, 2);
    struct inv_row *r = &f->rows[0];
    assert_int_equal(r->line, 2);
    assert_string_equal(r->server, "web01");
    assert_string_equal(r->os_family, "linux");
    assert_int_equal(r->source_port, 2222);
    assert_int_equal(r->ndisks, 2);
    assert_string_equal(r->disks[0].path, "/dev/sda");
    assert_int_equal(r->disks[0].size, 8LL << 30);
    assert_int_equal(r->disks[1].size, -1);
    assert_int_equal(r->nsgs, 2);
    assert_string_equal(r->sgs[1], "sg-2");
    assert_int_equal(r->ntags, 2);
    assert_string_equal(r->tags[1].key, "owner");
    assert_string_equal(r->tags[1].value, "ops");
    r = &f->rows[1];
    assert_int_equal(r->source_port, 22);
    assert_string_equal(r->fqdn, "");
    assert_string_equal(r->disks[0].path, "C:");
    assert_int_equal(r->ntags, 0);
    inv_free(f);
}

static void expect_parse_error(const char *in, unsigned flags, const char *want)
{
    char err[512] = "";
    struct inv_file *f = parse(in, flags, err, sizeof(err));
    if (f) {
        inv_free(f);
        fail_msg("parsed, expected error '%s'", want);
    }
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

#define ROW(port, tags) "w1,a,s1,,linux,,h," port ",,,/d,sim,,,,," tags "\n"

static void test_bad_port_names_line_and_column(void **state)
{
    (void)state;
    expect_parse_error(HDR ROW("22", "") "w1,a,s2,,linux,,h,70000,,,/d,sim,,,,,\n", 0,
                       "t.csv:3: column source_port: '70000' is not a port (1-65535)");
    expect_parse_error(HDR ROW("0", ""), 0, "t.csv:2: column source_port: '0' is not a port");
    expect_parse_error(HDR ROW("22x", ""), 0, "column source_port: '22x' is not a port");
}

static void test_bad_tag_syntax(void **state)
{
    (void)state;
    expect_parse_error(HDR ROW("22", "env=prod;oops"), 0,
                       "t.csv:2: column tags: 'oops' is not key=value");
    expect_parse_error(HDR ROW("22", "=x"), 0, "column tags: '=x': key must be 1-128 bytes");
    expect_parse_error(HDR ROW("22", "a=1;a=2"), 0, "column tags: key 'a' given twice");
}

static void test_field_count_mismatch(void **state)
{
    (void)state;
    expect_parse_error(HDR "w1,a,s1\n", 0, "t.csv:2: 3 fields, the header has 17");
    expect_parse_error(HDR ROW("22", "") "w1,a,s1,,linux,,h,22,,,/d,sim,,,,,,extra\n", 0,
                       "t.csv:3: 18 fields, the header has 17");
}

static void test_unknown_column_unless_ignored(void **state)
{
    (void)state;
    const char *in = "wave_name,app_name,server_name,server_os_family,source_host,"
                     "target_provider,colour\nw1,a,s1,linux,h,sim,blue\n";
    expect_parse_error(in, 0, "t.csv:1: unknown column 'colour'");
    char err[256];
    struct inv_file *f = parse(in, INV_IGNORE_UNKNOWN, err, sizeof(err));
    if (!f)
        fail_msg("%s", err);
    assert_int_equal(f->nrows, 1);
    assert_string_equal(f->rows[0].server, "s1");
    inv_free(f);
}

static void test_required_columns_and_values(void **state)
{
    (void)state;
    expect_parse_error("wave_name,app_name\nw,a\n", 0,
                       "required column 'server_name' missing from the header");
    expect_parse_error(HDR "w1,a,,,linux,,h,22,,,/d,sim,,,,,\n", 0,
                       "t.csv:2: column server_name: required value is empty");
    expect_parse_error(HDR "w1,a,s1,,solaris,,h,22,,,/d,sim,,,,,\n", 0,
                       "column server_os_family: 'solaris' is not one of linux, windows");
    expect_parse_error(HDR "w1,a,s1,,linux,,h,22,,,/d,azure,,,,,\n", 0,
                       "column target_provider: 'azure' is not one of sim, aws, exec, libvirt");
    expect_parse_error(HDR "w1,a,s 1,,linux,,h,22,,,/d,sim,,,,,\n", 0,
                       "column server_name: 's 1' may only hold");
}

static void test_duplicate_server_and_app_in_two_waves(void **state)
{
    (void)state;
    expect_parse_error(HDR ROW("22", "") "w1,a,s2,,linux,,h,22,,,/d,sim,,,,,\n" ROW("22", ""),
                       0, "t.csv:4: column server_name: server 's1' already on line 2");
    expect_parse_error(HDR ROW("22", "") "w2,a,s2,,linux,,h,22,,,/d,sim,,,,,\n", 0,
                       "t.csv:3: column app_name: application 'a' is in wave 'w1' on line 2");
}

static void test_all_errors_listed_with_line_and_column(void **state)
{
    (void)state;
    expect_parse_error(HDR ROW("99999", "x") ROW("22", ""), 0,
                       "t.csv:2: column source_port: '99999' is not a port (1-65535)\n"
                       "t.csv:2: column tags: 'x' is not key=value");
    expect_parse_error(HDR "w1,a,s1,,beos,,h,22,,,/d,sim,,,,,\n"
                           "w1,a,s2,,linux,,h,22,,,/d,gcp,,,,,\n"
                           "w1,a,s3,,linux,,,0,,,/d,sim,,,,,\n",
                       0,
                       "t.csv:2: column server_os_family: 'beos' is not one of linux, windows\n"
                       "t.csv:3: column target_provider: 'gcp' is not one of sim, aws, exec, libvirt\n"
                       "t.csv:4: column source_host: required value is empty\n"
                       "t.csv:4: column source_port: '0' is not a port (1-65535)");
}

/* 60 bad rows: the first INV_MAX_ERRORS are listed, the rest counted. */
static void test_errors_listed_up_to_a_bound(void **state)
{
    (void)state;
    static char in[16384];
    size_t n = (size_t)snprintf(in, sizeof(in), "%s", HDR);
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "w1,a,s%d,,linux,,h,0,,,/d,sim,,,,,\n", i);
    static char err[65536];
    struct inv_file *f = parse(in, 0, err, sizeof(err));
    assert_null(f);
    int lines = 0;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, INV_MAX_ERRORS); /* 50 errors and the count line */
    assert_non_null(strstr(err, "t.csv:51: column source_port"));
    assert_null(strstr(err, "t.csv:52:"));
    assert_non_null(strstr(err, "\nt.csv: 10 more errors not shown"));
}

#define CMF_HDR                                                                                    \
    "wave_name,app_name,aws_region,aws_accountid,server_name,server_os_family,"                    \
    "server_os_version,server_fqdn,server_tier,server_environment,r_type,subnet_IDs,"              \
    "securitygroup_IDs,subnet_IDs_test,securitygroup_IDs_test,instanceType,tenancy,tags\n"

static struct inv_file *parse_cmf(const char *in, char *err, size_t errlen)
{
    struct inv_opts o = {.flags = INV_FORMAT_CMF, .provider = "aws"};
    return inv_parse_opts("c.csv", in, strlen(in), &o, err, errlen);
}

static const char *setting(const struct inv_row *r, const char *key)
{
    for (size_t i = 0; i < r->nsettings; i++)
        if (strcmp(r->settings[i].key, key) == 0)
            return r->settings[i].value;
    return NULL;
}

static const char *tag(const struct inv_row *r, const char *key)
{
    for (size_t i = 0; i < r->ntags; i++)
        if (strcmp(r->tags[i].key, key) == 0)
            return r->tags[i].value;
    return NULL;
}

/* Every CMF column lands somewhere: FQDN is also the source host, tier,
 * environment and r_type become tags, region/account/test subnet/tenancy
 * settings, the lists are split on ';'. */
static void test_cmf_maps_every_column(void **state)
{
    (void)state;
    char err[2048];
    struct inv_file *f = parse_cmf(CMF_HDR "w1,app,us-east-1,123456789012,s1,Linux,RHEL 9,"
                                           "s1.corp.example,Web,Prod,Rehost,subnet-1,sg-1;sg-2,"
                                           "subnet-t,sg-t1;sg-t2,m5.large,Dedicated,"
                                           "CostCenter=42;Owner=ops;\n",
                                   err, sizeof(err));
    if (!f)
        fail_msg("%s", err);
    const struct inv_row *r = &f->rows[0];
    assert_string_equal(r->wave, "w1");
    assert_string_equal(r->app, "app");
    assert_string_equal(r->server, "s1");
    assert_string_equal(r->os_family, "linux");
    assert_string_equal(r->os_version, "RHEL 9");
    assert_string_equal(r->fqdn, "s1.corp.example");
    assert_string_equal(r->source_host, "s1.corp.example");
    assert_string_equal(r->provider, "aws");
    assert_string_equal(r->subnet_id, "subnet-1");
    assert_int_equal(r->nsgs, 2);
    assert_string_equal(r->sgs[1], "sg-2");
    assert_int_equal(r->ntest_sgs, 2);
    assert_string_equal(r->test_sgs[0], "sg-t1");
    assert_string_equal(r->instance_type, "m5.large");
    assert_string_equal(setting(r, "aws_region"), "us-east-1");
    assert_string_equal(setting(r, "aws_account_id"), "123456789012");
    assert_string_equal(setting(r, "test_subnet_id"), "subnet-t");
    assert_string_equal(setting(r, "tenancy"), "Dedicated");
    assert_string_equal(tag(r, "CostCenter"), "42");
    assert_string_equal(tag(r, "Owner"), "ops");
    assert_string_equal(tag(r, "tier"), "Web");
    assert_string_equal(tag(r, "environment"), "Prod");
    assert_string_equal(tag(r, "r_type"), "Rehost");
    assert_int_equal(r->ntags, 5);
    inv_free(f);
}

static void test_cmf_errors_name_cmf_columns(void **state)
{
    (void)state;
    char err[2048];
    struct inv_file *f = parse_cmf(CMF_HDR "w1,app,us-east-1,1234,s1,linux,,,Web,Prod,Rehost,"
                                           "subnet-1;subnet-2,sg-1,,,t3.large,Weird,tier=x\n",
                                   err, sizeof(err));
    assert_null(f);
    assert_non_null(strstr(err, "c.csv:2: column subnet_IDs: 2 values"));
    assert_non_null(strstr(err, "c.csv:2: column tenancy: setting tenancy: 'Weird' is not one of"));
    assert_non_null(strstr(err, "c.csv:2: column server_fqdn: required value is empty"));
    assert_non_null(
        strstr(err, "c.csv:2: column tags: key 'tier' is also given by its own column"));
    /* an extra column: refused, or listed as ignored */
    f = parse_cmf("wave_name,app_name,server_name,server_os_family,server_fqdn,notes\n"
                  "w,a,s,linux,s.example,hello\n",
                  err, sizeof(err));
    assert_null(f);
    assert_non_null(strstr(err, "unknown column 'notes'"));
    struct inv_opts o = {.flags = INV_FORMAT_CMF | INV_IGNORE_UNKNOWN, .provider = "sim"};
    const char *in = "wave_name,app_name,server_name,server_os_family,server_fqdn,notes\n"
                     "w,a,s,linux,s.example,hello\n";
    f = inv_parse_opts("c.csv", in, strlen(in), &o, err, sizeof(err));
    assert_non_null(f);
    assert_int_equal(f->nignored, 1);
    assert_string_equal(f->ignored[0], "notes");
    inv_free(f);
}

/* Native intake: a column per server setting, validated like server set. */
static void test_settings_columns(void **state)
{
    (void)state;
    char err[1024];
    const char *in =
        "wave_name,app_name,server_name,server_os_family,source_host,"
        "target_provider,transport,stop_command,probes,agent_port\n"
        "w,a,s1,linux,h,sim,local,systemctl stop app,\"[{\"\"name\"\":\"\"x\"\"}]\",7481\n"
        "w,a,s2,linux,h,sim,telnet,,{oops,0\n";
    struct inv_file *f = parse(in, 0, err, sizeof(err));
    assert_null(f);
    assert_non_null(strstr(
        err, "t.csv:3: column transport: setting transport: 'telnet' is not one of ssh,local,sim"));
    assert_non_null(strstr(err, "t.csv:3: column probes: setting probes: '{oops' is not a JSON"));
    assert_non_null(
        strstr(err, "t.csv:3: column agent_port: setting agent_port: '0' is not a port"));
    assert_null(strstr(err, "t.csv:2:"));
}

static void test_disk_sizes_and_duplicates(void **state)
{
    (void)state;
    char err[256];
    struct inv_file *f =
        parse(HDR "w1,a,s1,,linux,,h,22,,,/a:4KiB;/b:2tb;/c:12;/d:x,sim,,,,,\n", 0, err,
              sizeof(err));
    if (!f)
        fail_msg("%s", err);
    struct inv_row *r = &f->rows[0];
    assert_int_equal(r->ndisks, 4);
    assert_int_equal(r->disks[0].size, 4096);
    assert_int_equal(r->disks[1].size, 2LL << 40);
    assert_int_equal(r->disks[2].size, 12);
    assert_string_equal(r->disks[3].path, "/d:x"); /* not a size: part of the path */
    assert_int_equal(r->disks[3].size, -1);
    inv_free(f);
    expect_parse_error(HDR "w1,a,s1,,linux,,h,22,,,/a;/a:1G,sim,,,,,\n", 0,
                       "column disks: disk '/a' listed twice");
}

/* Issue 9: relative disk paths and ".." are refused, naming line and column. */
static void test_disk_paths_must_be_absolute_without_dotdot(void **state)
{
    (void)state;
    const char *bad[] = {"dev/sdb", "sdb", "./disk.img", "/srv/../etc/shadow", "/dev/..", "..",
                         "C:..\\x", "C:x", "/a;../b", "\\\\.\\..\\x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[512];
        snprintf(in, sizeof(in), HDR ROW("22", "") "w1,a,s2,,linux,,h,22,,,%s,sim,,,,,\n", bad[i]);
        expect_parse_error(in, 0, "t.csv:3: column disks: disk path '");
        expect_parse_error(in, 0, "must be absolute");
    }
    char err[256];
    struct inv_file *f = parse(HDR "w1,a,s1,,linux,,h,22,,,/dev/sdb;/srv/img/a..b.raw;D:\\;E:/x;"
                                   "\\\\.\\PhysicalDrive0,sim,,,,,\n",
                               0, err, sizeof(err));
    if (!f)
        fail_msg("good paths refused: %s", err);
    assert_int_equal(f->rows[0].ndisks, 5);
    inv_free(f);
}

static void test_empty_file_and_header_only(void **state)
{
    (void)state;
    expect_parse_error("", 0, "t.csv: empty file");
    char err[256];
    struct inv_file *f = parse(HDR, 0, err, sizeof(err));
    assert_non_null(f);
    assert_int_equal(f->nrows, 0);
    inv_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quotes_commas_and_embedded_newlines),
        cmocka_unit_test(test_csv_crlf_bom_blank_lines_and_no_final_newline),
        cmocka_unit_test(test_csv_malformed_quotes_are_errors_with_line),
        cmocka_unit_test(test_csv_bounds),
        cmocka_unit_test(test_parse_good_rows),
        cmocka_unit_test(test_bad_port_names_line_and_column),
        cmocka_unit_test(test_bad_tag_syntax),
        cmocka_unit_test(test_field_count_mismatch),
        cmocka_unit_test(test_unknown_column_unless_ignored),
        cmocka_unit_test(test_required_columns_and_values),
        cmocka_unit_test(test_duplicate_server_and_app_in_two_waves),
        cmocka_unit_test(test_all_errors_listed_with_line_and_column),
        cmocka_unit_test(test_errors_listed_up_to_a_bound),
        cmocka_unit_test(test_cmf_maps_every_column),
        cmocka_unit_test(test_cmf_errors_name_cmf_columns),
        cmocka_unit_test(test_settings_columns),
        cmocka_unit_test(test_disk_sizes_and_duplicates),
        cmocka_unit_test(test_disk_paths_must_be_absolute_without_dotdot),
        cmocka_unit_test(test_empty_file_and_header_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
