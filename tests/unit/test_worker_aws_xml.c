/* aws_xml: the bounded element finder reads AWS answers (nested <item>s,
 * self-closing elements, entities) and gives up cleanly on broken input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "provider/aws/aws_xml.h"

static const char DESCRIBE[] =
    "<?xml version=\"1.0\"?>\n<DescribeInstancesResponse><reservationSet><item>"
    "<instancesSet><item><networkInterfaceSet><item><groupSet><item><groupId>sg-eni</groupId>"
    "</item></groupSet></item></networkInterfaceSet><instanceId>i-1</instanceId>"
    "<groupSet><item><groupId>sg-a</groupId></item><item><groupId>sg-b</groupId></item>"
    "</groupSet><tagSet/><!-- note <groupId>x</groupId> --></item>"
    "<item><instanceId>i-2</instanceId></item></instancesSet></item></reservationSet>"
    "</DescribeInstancesResponse>";

static struct aws_xml whole(const char *s)
{
    return aws_xml_span(s, strlen(s));
}

static void test_find_is_depth_first_and_next_walks_direct_children(void **state)
{
    (void)state;
    char buf[64];
    struct aws_xml set, item, groups, g;
    assert_int_equal(aws_xml_text(whole(DESCRIBE), "groupId", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "sg-eni"); /* first in document order */
    assert_true(aws_xml_find(whole(DESCRIBE), "instancesSet", &set));
    const char *cur = set.p;
    int n = 0;
    while (aws_xml_next(set, &cur, "item", &item)) {
        const char *c2 = item.p;
        struct aws_xml id;
        assert_true(aws_xml_next(item, &c2, "instanceId", &id));
        aws_xml_span_text(id, buf, sizeof(buf));
        assert_string_equal(buf, n == 0 ? "i-1" : "i-2");
        n++;
        if (n == 1) { /* the instance's own groupSet, not the interface's */
            c2 = item.p;
            assert_true(aws_xml_next(item, &c2, "groupSet", &groups));
            const char *c3 = groups.p;
            int k = 0;
            while (aws_xml_next(groups, &c3, "item", &g)) {
                assert_int_equal(aws_xml_text(g, "groupId", buf, sizeof(buf)), 0);
                assert_string_equal(buf, k++ == 0 ? "sg-a" : "sg-b");
            }
            assert_int_equal(k, 2);
            c2 = item.p;
            struct aws_xml tags;
            assert_true(aws_xml_next(item, &c2, "tagSet", &tags));
            assert_true(tags.p == tags.end);
        }
    }
    assert_int_equal(n, 2);
}

static void test_entities_are_decoded_and_output_bounded(void **state)
{
    (void)state;
    const char *x =
        "<E><Message>The group &apos;a&amp;b&apos; &lt;x&gt; &#233;&#x4E2D;</Message></E>";
    char buf[64], small[8];
    assert_int_equal(aws_xml_text(whole(x), "Message", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "The group 'a&b' <x> \xc3\xa9\xe4\xb8\xad");
    assert_int_equal(aws_xml_text(whole(x), "Message", small, sizeof(small)), -ENOSPC);
    assert_int_equal(strlen(small), 7);
    assert_int_equal(aws_xml_text(whole(x), "Code", buf, sizeof(buf)), -ENOENT);
    assert_string_equal(buf, "");
}

static void test_broken_input_is_not_found(void **state)
{
    (void)state;
    char buf[32];
    static const char *const bad[] = {
        "<a><Code>x</Code",    /* unterminated close tag */
        "<a><Code>x",          /* no close */
        "<a><Code attr=\"1\"", /* unterminated open tag */
        "<",                   /* lone bracket */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(aws_xml_text(whole(bad[i]), "Code", buf, sizeof(buf)), -ENOENT);
    /* nesting far deeper than any AWS answer is refused, not recursed into */
    char deep[4096] = "";
    for (int i = 0; i < 200; i++)
        strcat(deep, "<d>");
    strcat(deep, "<Code>x</Code>");
    for (int i = 0; i < 200; i++)
        strcat(deep, "</d>");
    assert_int_equal(aws_xml_text(whole(deep), "Code", buf, sizeof(buf)), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_is_depth_first_and_next_walks_direct_children),
        cmocka_unit_test(test_entities_are_decoded_and_output_bounded),
        cmocka_unit_test(test_broken_input_is_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
