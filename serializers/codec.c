/* codec.c - the table of serializers and the reply pair in each
 * peer's dialect (see codec.h). */
#include "serializers/codec.h"

#include <stdio.h>
#include <string.h>

#include "core/base/error.h"
#include "serializers/pickle.h"
#include "serializers/xmlrpc.h"

/* Pickles of protocol 0 and 1 are answered at 2, which every Python
 * reads; one that could not be decoded in the protocol its PROTO opcode
 * announces, if it has one. */
static int pickle_reply_protocol(const uint8_t *data, size_t n, int decoded)
{
    if (decoded >= 0)
        return decoded < 2 ? 2 : decoded;
    return n >= 2 && data[0] == 0x80 && data[1] <= 5 ? data[1] : 4;
}

const md_codec_ops md_codec_pickle = {
    .name = "pickle",
    .decode = md_pickle_decode,
    .encode = md_pickle_encode,
    .encode_refs = md_pickle_encode_refs,
    .decode_noting_proxies = md_pickle_decode_noting_proxies,
    .reply_protocol = pickle_reply_protocol,
};

/* XML-RPC has no proxies: its decoder builds no RebuildProxy. */
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

int md_codec_decode_request(const md_codec_ops *codec, const uint8_t *data, size_t n,
                            const md_codec_limits *lim, md_codec_msg *msg, md_codec_err *err)
{
    int protocol = 0;
    msg->value = NULL;
    bool proxies = false;
    /* The protocol the message announces is read first: a value that
     * takes the message's buffer over (lim->gift) overwrites its start. */
    int announced = codec->reply_protocol ? codec->reply_protocol(data, n, -1) : 0;
    int rc = codec->decode_noting_proxies
                 ? codec->decode_noting_proxies(data, n, lim, &msg->value, &protocol, &proxies, err)
                 : codec->decode(data, n, lim, &msg->value, &protocol, err);
    msg->protocol = rc < 0 || !codec->reply_protocol ? announced
                                                     : codec->reply_protocol(data, n, protocol);
    msg->may_carry_proxies = rc == 0 && proxies;
    return rc;
}

/* ---- replies: Python 2's texts ------------------------------------------ */

/* Python 2 clients insist that #TRACEBACK texts are byte strings. */
static md_val *py2_text(md_val *text)
{
    if (!text || md_typeof(text) != MD_T_STR)
        return text;
    md_val *v = md_str_is_ascii(text)
                    ? md_str_new_py2(md_str_data(text), md_str_nbytes(text))
                    : md_bytes_new_py2(md_str_data(text), md_str_nbytes(text));
    md_decref(text);
    return v;
}

/* The server's own messages in an exception for a Python 2 client: byte
 * strings, as a Python 2 server's exceptions carry them. */
static md_val *py2_exc(md_val *exc)
{
    md_val *args = md_typeof(exc) == MD_T_EXC ? md_exc_args(exc) : NULL;
    bool any = false;
    for (size_t i = 0; args && i < md_tuple_len(args); i++) {
        md_val *a = md_tuple_get(args, i);
        any |= md_typeof(a) == MD_T_STR && md_str_is_ascii(a) && !md_str_is_py2(a);
    }
    if (!any)
        return exc;
    md_val *nargs = md_tuple_new(md_tuple_len(args));
    for (size_t i = 0; nargs && i < md_tuple_len(args); i++) {
        md_val *a = md_tuple_get(args, i);
        md_tuple_set_steal(nargs, i, md_typeof(a) == MD_T_STR && md_str_is_ascii(a)
                                         ? md_str_new_py2(md_str_data(a), md_str_nbytes(a))
                                         : md_incref(a));
    }
    md_val *n = nargs ? md_exc_new(md_exc_class(exc), nargs, md_exc_state(exc)) : NULL;
    md_decref(nargs);
    if (!n)
        return exc;
    md_decref(exc);
    return n;
}

/* (kind, payload) spelled for a peer at protocol; steals payload. */
static md_val *reply_pair(int protocol, const char *kind, md_codec_payload what, md_val *payload)
{
    md_val *ks = protocol == 2 ? md_str_new_py2(kind, strlen(kind)) : md_str_from_cstr(kind);
    if (protocol == 2 && what == MD_CODEC_TEXT)
        payload = py2_text(payload);
    if (protocol == 2 && what == MD_CODEC_EXCEPTION && payload)
        payload = py2_exc(payload);
    md_val *pair = ks && payload ? md_tuple_pack(2, ks, payload) : NULL;
    md_decref(ks);
    md_decref(payload);
    return pair;
}

int md_codec_encode_reply(const md_codec_ops *codec, int protocol, const char *kind,
                          md_codec_payload what, md_val *payload, md_buf *out,
                          md_codec_err *err)
{
    return md_codec_encode_reply_refs(codec, protocol, kind, what, payload, out, NULL, err);
}

int md_codec_encode_reply_refs(const md_codec_ops *codec, int protocol, const char *kind,
                               md_codec_payload what, md_val *payload, md_buf *out,
                               md_out_refs *refs, md_codec_err *err)
{
    md_val *pair = reply_pair(protocol, kind, what, payload);
    if (!pair) {
        err->code = MD_ENOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return MD_ENOMEM;
    }
    int p = protocol < 2 ? 2 : protocol;
    int rc = refs && codec->encode_refs ? codec->encode_refs(pair, p, out, refs, err)
                                        : codec->encode(pair, p, out, err);
    md_decref(pair);
    return rc;
}
