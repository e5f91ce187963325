/* Schema examples shared by test_common_avro and test_common_avro_interop. */
#ifndef COMMON_AVRO_EXAMPLES_H
#define COMMON_AVRO_EXAMPLES_H

#include <stddef.h>
#include <stdint.h>

struct common_avro_example {
    const char *json;
    const char *canonical;
    uint64_t fingerprint; /* as a number; the header holds it little-endian */
};

extern const struct common_avro_example common_avro_examples[];
extern const size_t common_avro_examples_count;

#endif
