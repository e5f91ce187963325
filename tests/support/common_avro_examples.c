/* Schema examples for the Avro canonical-form tests (unit and interop):
 * primitives, logical types, nested names and namespaces, enums, fixed,
 * arrays/maps, recursion, \u escapes and attributes that STRIP removes.
 * Expected canonical forms and fingerprints were produced by fastavro
 * 1.13.1 (to_parsing_canonical_form, CRC-64-AVRO); the interop test
 * re-checks them against fastavro at run time. */
#include "common_avro_examples.h"

const struct common_avro_example common_avro_examples[] = {
    {"\"int\"", "\"int\"", 0x7275d51a3f395c8fULL},
    {"{\"type\":\"int\"}", "\"int\"", 0x7275d51a3f395c8fULL},
    {"\"string\"", "\"string\"", 0x8f014872634503c7ULL},
    {"{\"type\":\"null\"}", "\"null\"", 0x63dd24e7cc258f8aULL},
    {"{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}", "\"long\"", 0xd054e14493f41db7ULL},
    {"{\"fields\":[{\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"fields\":[{\"name\":\"e\","
     "\"type\":{\"symbols\":[\"X\",\"Y\"],\"type\":\"enum\",\"name\":\"E\",\"namespace\":\"c\"}}]},"
     "\"name\":\"in\",\"doc\":\"d\"},{\"name\":\"again\",\"type\":\"Inner\"},{\"name\":\"e2\","
     "\"type\":\"c.E\"},{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"d.F\",\"size\":16,"
     "\"namespace\":\"ignored\"}},{\"name\":\"g\",\"type\":{\"type\":\"fixed\",\"name\":\"G\","
     "\"namespace\":\"\",\"size\":4}},{\"name\":\"h\",\"type\":\"d.F\"}],\"name\":\"Outer\","
     "\"namespace\":\"a.b\",\"type\":\"record\",\"doc\":\"outer\"}",
     "{\"name\":\"a.b.Outer\",\"type\":\"record\",\"fields\":[{\"name\":\"in\",\"type\":{\"name\":"
     "\"a.b.Inner\",\"type\":\"record\",\"fields\":[{\"name\":\"e\",\"type\":{\"name\":\"c.E\","
     "\"type\":\"enum\",\"symbols\":[\"X\",\"Y\"]}}]}},{\"name\":\"again\",\"type\":\"a.b.Inner\"},"
     "{\"name\":\"e2\",\"type\":\"c.E\"},{\"name\":\"f\",\"type\":{\"name\":\"d.F\",\"type\":"
     "\"fixed\",\"size\":16}},{\"name\":\"g\",\"type\":{\"name\":\"G\",\"type\":\"fixed\",\"size\":"
     "4}},{\"name\":\"h\",\"type\":\"d.F\"}]}",
     0x7626d991d64a6c73ULL},
    {"{\"type\":\"enum\",\"name\":\"Suit\",\"namespace\":\"cards\",\"doc\":\"d\",\"symbols\":["
     "\"SPADES\",\"HEARTS\"],\"default\":\"SPADES\"}",
     "{\"name\":\"cards.Suit\",\"type\":\"enum\",\"symbols\":[\"SPADES\",\"HEARTS\"]}",
     0x292f5c362f36edadULL},
    {"{\"type\":\"fixed\",\"size\":16,\"name\":\"md5\",\"aliases\":[\"x\"]}",
     "{\"name\":\"md5\",\"type\":\"fixed\",\"size\":16}", 0x481b34e75cd85d8cULL},
    {"{\"type\":\"array\",\"items\":{\"type\":\"map\",\"values\":[\"null\",\"long\"]},\"default\":["
     "]}",
     "{\"type\":\"array\",\"items\":{\"type\":\"map\",\"values\":[\"null\",\"long\"]}}",
     0xaa3bb4094f797c5aULL},
    {"{\"type\":\"record\",\"name\":\"LongList\",\"aliases\":[\"LinkedLongs\"],\"fields\":[{"
     "\"name\":\"value\",\"type\":\"long\"},{\"name\":\"next\",\"type\":[\"null\",\"LongList\"]}]}",
     "{\"name\":\"LongList\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":\"long\"}"
     ",{\"name\":\"next\",\"type\":[\"null\",\"LongList\"]}]}",
     0x7c1d07908358ce92ULL},
    {"{\"type\":\"record\",\"name\":\"x.Y\",\"namespace\":\"ignored.ns\",\"fields\":[{\"name\":"
     "\"z\",\"type\":{\"type\":\"record\",\"name\":\"Z\",\"fields\":[]}}]}",
     "{\"name\":\"x.Y\",\"type\":\"record\",\"fields\":[{\"name\":\"z\",\"type\":{\"name\":\"x.Z\","
     "\"type\":\"record\",\"fields\":[]}}]}",
     0xa185a8ed5354f1acULL},
    {"{\"type\": \"record\", \"name\": \"\\u0041b\", \"fields\": [ {\"name\": \"s\", \"type\": "
     "{\"type\": \"string\", \"avro.java.string\": \"String\"}, \"order\": \"descending\", "
     "\"default\": \"\\u00e9\"} ]}",
     "{\"name\":\"Ab\",\"type\":\"record\",\"fields\":[{\"name\":\"s\",\"type\":\"string\"}]}",
     0xee30eab8c9bb6210ULL},
};
const size_t common_avro_examples_count =
    sizeof(common_avro_examples) / sizeof(common_avro_examples[0]);
