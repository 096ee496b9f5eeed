/* frame.c - multiprocessing.connection length-prefix framing; see
 * frame.h and tests/docs/protocol.md section 1.2. */
#include "transports/wire/frame.h"

#include "core/base/error.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int md_frame_header(uint8_t out[MD_FRAME_HDR_MAX], uint64_t len, bool long_ok)
{
    if (len <= MD_FRAME_SHORT_MAX) {
        put_be32(out, (uint32_t)len);
        return MD_FRAME_SHORT_HDR;
    }
    /* 2.7 would read ff ff ff ff as a 4 GiB length and 3.6/3.7 as an
     * empty message: refuse rather than desynchronise such a peer. */
    if (!long_ok)
        return MD_ETOOBIG;
    put_be32(out, 0xffffffffu);
    put_be32(out + 4, (uint32_t)(len >> 32));
    put_be32(out + 8, (uint32_t)len);
    return MD_FRAME_LONG_HDR;
}

int md_frame_parse(const uint8_t *buf, size_t avail, size_t max_len,
                   size_t *hdr_len, uint64_t *payload_len)
{
    *payload_len = 0;
    *hdr_len = MD_FRAME_SHORT_HDR;
    if (avail < MD_FRAME_SHORT_HDR)
        return MD_FRAME_NEED_MORE;
    uint32_t word = get_be32(buf);
    uint64_t len;
    if (word <= MD_FRAME_SHORT_MAX) {
        len = word;
    } else if (word == 0xffffffffu) {
        /* The long form (3.8+); accepted for any length, small ones
         * included, exactly as 3.8+ readers do. */
        *hdr_len = MD_FRAME_LONG_HDR;
        if (avail < MD_FRAME_LONG_HDR)
            return MD_FRAME_NEED_MORE;
        len = (uint64_t)get_be32(buf + 4) << 32 | get_be32(buf + 8);
    } else {
        /* A negative int32 other than -1: CPython 3.x would return an
         * empty message and lose step with the stream; 2.7 would wait for
         * ~4 GiB. Neither is a message. */
        return MD_EPROTO;
    }
    if (len > max_len)
        return MD_ETOOBIG;
    *payload_len = len;
    return avail - *hdr_len >= len ? MD_FRAME_COMPLETE : MD_FRAME_NEED_PAYLOAD;
}

int md_frame_append(md_buf *out, const void *payload, size_t len, bool long_ok)
{
    uint8_t hdr[MD_FRAME_HDR_MAX];
    int hlen = md_frame_header(hdr, len, long_ok);
    if (hlen < 0)
        return hlen;
    if (md_buf_reserve(out, (size_t)hlen + len) < 0 ||
        md_buf_append(out, hdr, (size_t)hlen) < 0 || md_buf_append(out, payload, len) < 0)
        return MD_ENOMEM;
    return 0;
}
