/* codec_error.c - the default decoding bounds (see codec_error.h). */
#include "serializers/codec_error.h"

#include "core/base/limits.h"

void md_codec_limits_default(md_codec_limits *lim)
{
    lim->max_bytes = MD_MAX_MESSAGE_DEFAULT;
    lim->max_depth = MD_MAX_DEPTH;
    lim->max_memo = MD_PICKLE_MAX_MEMO;
    lim->max_stack = MD_PICKLE_MAX_STACK;
    lim->max_int_bytes = MD_PICKLE_MAX_INT_BYTES;
    lim->gift = NULL;
}
