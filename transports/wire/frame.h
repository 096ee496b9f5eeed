/* frame.h - multiprocessing.connection framing: a length prefix before
 * every message, handshake messages included (tests/docs/protocol.md section 1.2).
 *
 * Pure functions over byte buffers, with no event loop and no allocation,
 * so the server (libevent bufferevents) and the blocking C client drive
 * the same code. Shared by both sides: nothing here knows which it serves.
 *
 *   short form: int32 big-endian LEN, then LEN bytes      (LEN <= 2^31-1)
 *   long form:  ff ff ff ff, uint64 big-endian LEN, then LEN bytes
 *
 * Only 3.8+ peers read the long form, so it is written only above
 * 2^31-1 and only when the caller says the peer is 3.8+; it is accepted
 * from everyone, at any length.
 */
#ifndef MD_FRAME_H
#define MD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/buf.h"

#define MD_FRAME_SHORT_HDR   4
#define MD_FRAME_LONG_HDR    12
#define MD_FRAME_HDR_MAX     MD_FRAME_LONG_HDR
/* Largest payload the short form carries (and the largest any 2.7 - 3.7
 * peer can send or read). */
#define MD_FRAME_SHORT_MAX   ((uint64_t)0x7fffffff)

/* Results of md_frame_parse that are not errors. Any value > 0 means
 * "not yet a whole frame"; the number of bytes still missing is then
 * md_frame_missing(avail, *hdr_len, *payload_len). */
enum {
    MD_FRAME_COMPLETE = 0,      /* header and whole payload are in buf */
    MD_FRAME_NEED_MORE = 1,     /* the header itself is incomplete */
    MD_FRAME_NEED_PAYLOAD = 2,  /* header decoded, payload incomplete */
};

/* Write the header for a payload of len bytes into out. Returns the
 * header length (4, or 12 when len > 2^31-1 and long_ok), or MD_ETOOBIG
 * when len > 2^31-1 and the peer cannot read the long form (2.7 - 3.7). */
int md_frame_header(uint8_t out[MD_FRAME_HDR_MAX], uint64_t len, bool long_ok);

/* Decode the frame at the start of buf[0..avail). Only the header bytes
 * are read, so a caller holding the stream elsewhere (an evbuffer) may
 * pass just its first min(avail, 12) bytes: the result is then at best
 * MD_FRAME_NEED_PAYLOAD, and the frame is whole once the stream holds
 * *hdr_len + *payload_len bytes.
 *
 * Returns:
 *   MD_FRAME_COMPLETE      *hdr_len, *payload_len set; the payload is
 *                          buf + *hdr_len and is all there.
 *   MD_FRAME_NEED_PAYLOAD  *hdr_len, *payload_len set; wait for the rest.
 *   MD_FRAME_NEED_MORE     the header is incomplete; *hdr_len is the
 *                          header size known so far (4, or 12 once
 *                          ff ff ff ff was seen) and *payload_len is 0.
 *   MD_ETOOBIG             the announced length exceeds max_len (decided
 *                          from the header alone, before any payload).
 *   MD_EPROTO              a negative short header other than -1.
 * Zero-length payloads are valid framing (never a valid message, which
 * is the decoder's business). Handshake messages: max_len =
 * MD_HANDSHAKE_MAX. */
int md_frame_parse(const uint8_t *buf, size_t avail, size_t max_len,
                   size_t *hdr_len, uint64_t *payload_len);

/* Bytes still missing after md_frame_parse returned > 0. */
static inline uint64_t md_frame_missing(size_t avail, size_t hdr_len, uint64_t payload_len)
{
    if (payload_len > UINT64_MAX - hdr_len)
        return UINT64_MAX;
    uint64_t want = (uint64_t)hdr_len + payload_len;
    return want > avail ? want - avail : 0;
}

/* Append header + payload to out (one contiguous write, as CPython does
 * to avoid Nagle delays). 0, MD_ETOOBIG (see md_frame_header) or
 * MD_ENOMEM. */
int md_frame_append(md_buf *out, const void *payload, size_t len, bool long_ok);

#endif /* MD_FRAME_H */
