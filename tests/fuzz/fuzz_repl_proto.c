/* libFuzzer target: every session/control message decoder (the first byte
 * picks one) on hostile bytes; accepted messages re-encode to the same
 * bytes (the decoders are strict: nothing ignored, nothing left over). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define ROUND_TRIP(T, dec, enc)                                                                    \
    do {                                                                                           \
        T m;                                                                                       \
        if (dec(p, n, &m) == 0) {                                                                  \
            uint8_t out[8192];                                                                     \
            long k = enc(&m, out, sizeof(out));                                                    \
            if (k != (long)n || memcmp(out, p, n) != 0)                                            \
                abort();                                                                           \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 13) {
    case 0:
        ROUND_TRIP(struct proto_begin, proto_begin_decode, proto_begin_encode);
        break;
    case 1:
        ROUND_TRIP(struct proto_begin_ok, proto_begin_ok_decode, proto_begin_ok_encode);
        break;
    case 2:
        ROUND_TRIP(struct proto_stream, proto_stream_decode, proto_stream_encode);
        break;
    case 3:
        ROUND_TRIP(struct proto_range, proto_range_decode, proto_range_encode);
        break;
    case 4:
        ROUND_TRIP(struct proto_commit, proto_commit_decode, proto_commit_encode);
        break;
    case 5:
        ROUND_TRIP(struct proto_gen, proto_gen_decode, proto_gen_encode);
        break;
    case 6:
        ROUND_TRIP(struct proto_map_req, proto_map_req_decode, proto_map_req_encode);
        break;
    case 7:
        ROUND_TRIP(struct proto_map_info, proto_map_info_decode, proto_map_info_encode);
        break;
    case 8:
        ROUND_TRIP(struct proto_map_end, proto_map_end_decode, proto_map_end_encode);
        break;
    case 9:
        ROUND_TRIP(struct proto_error, proto_error_decode, proto_error_encode);
        break;
    case 10:
        ROUND_TRIP(struct proto_ctl_req, proto_ctl_req_decode, proto_ctl_req_encode);
        break;
    case 11:
        ROUND_TRIP(struct proto_ctl_result, proto_ctl_result_decode, proto_ctl_result_encode);
        break;
    default: {
        uint64_t first;
        uint32_t cnt;
        const uint8_t *d;
        if (proto_map_chunk_decode(p, n, &first, &cnt, &d) == 0 && (size_t)cnt * 16 + 12 != n)
            abort();
        char name[256];
        size_t k = n < sizeof(name) - 1 ? n : sizeof(name) - 1;
        memcpy(name, p, k);
        name[k] = '\0';
        if (proto_volume_valid(name) && (strchr(name, '/') || name[0] == '.'))
            abort();
    }
    }
    return 0;
}
