/* codec.c - the table of serializers (see codec.h). */
#include "serializers/codec.h"

#include <string.h>

#include "serializers/xmlrpc.h"

const md_codec_ops md_codec_pickle = {
    .name = "pickle",
    .decode = md_pickle_decode,
    .encode = md_pickle_encode,
};

const md_codec_ops md_codec_xmlrpc = {
    .name = "xmlrpclib",
    .decode = md_xmlrpc_decode,
    .encode = md_xmlrpc_encode,
};

static const md_codec_ops *const codecs[] = {
    &md_codec_pickle,
    &md_codec_xmlrpc,
};

const md_codec_ops *md_codec_find(const char *name)
{
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        if (strcmp(codecs[i]->name, name) == 0)
            return codecs[i];
    return NULL;
}

const md_codec_ops *md_codec_detect(const uint8_t *data, size_t n)
{
    if (n >= 1 && data[0] == 0x80)
        return &md_codec_pickle;
    return md_codec_find(n >= 1 && data[0] == '<' ? "xmlrpclib" : "");
}
