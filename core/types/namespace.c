/* namespace.c - the 'Namespace' shared type: multiprocessing.managers'
 * Namespace(**kwds), an object whose attributes clients get, set and
 * delete through NamespaceProxy. The attributes are a dict of str keys.
 */
#include "core/types/containers_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"

#define ATTRS(c) MD_CU_VAL((c)->self)

/* Python's getattr/setattr/delattr want a str name. */
static int name_arg(md_call *c)
{
    if (md_typeof(c->argv[0]) != MD_T_STR) {
        md_raise(c, "builtins", "TypeError", "attribute name must be string, not '%s'",
                 md_type_name(c->argv[0]));
        return -1;
    }
    return 0;
}

/* AttributeError as 3.12+ pickles it: args plus the state {'name': name,
 * 'args': args} (older clients accept the state as well; 2.7 clients get
 * the args only, as a 2.7 server sends). */
static int raise_missing(md_call *c, md_val *name, bool deleting)
{
    char text[300];
    /* delattr of a missing name says just the name before 3.11; 2.7 and
     * 3.6/3.7 clients (protocols 2, 3) are surely older. */
    if (deleting && c->protocol >= 2 && c->protocol <= 3)
        snprintf(text, sizeof text, "%s", md_str_data(name));
    else
        snprintf(text, sizeof text, "'Namespace' object has no attribute '%s'", md_str_data(name));
    md_val *msg = md_str_from_cstr(text);
    if (!msg)
        return md_raise_val(c, NULL);
    int rc = md_cu_raise_attribute_error(c, name, msg, c->protocol >= 3);
    md_decref(msg);
    return rc;
}

static int ns_getattribute(md_call *c)
{
    if (name_arg(c) < 0)
        return MD_CALL_DONE;
    md_pyerr e;
    md_pyerr_clear(&e);
    md_val *v = md_dict_get(ATTRS(c), c->argv[0], &e);
    if (!v)
        return raise_missing(c, c->argv[0], false);
    return md_return(c, md_incref(v));
}

static int ns_setattr(md_call *c)
{
    if (name_arg(c) < 0)
        return MD_CALL_DONE;
    md_pyerr e;
    md_pyerr_clear(&e);
    if (md_dict_set(ATTRS(c), c->argv[0], c->argv[1], &e) < 0)
        return md_raise_pyerr(c, &e);
    return md_return_none(c);
}

/* A missing name: 3.11+'s message (up to 3.10 the text was just 'x'). */
static int ns_delattr(md_call *c)
{
    if (name_arg(c) < 0)
        return MD_CALL_DONE;
    md_pyerr e;
    md_pyerr_clear(&e);
    int r = md_dict_del(ATTRS(c), c->argv[0], &e);
    if (r < 0)
        return md_raise_pyerr(c, &e);
    if (r == 0)
        return raise_missing(c, c->argv[0], true);
    return md_return_none(c);
}

static int ns_init(md_call *c)
{
    md_val *attrs = c->varkw ? md_cu_dict_copy(c->varkw) : md_dict_new();
    if (!attrs)
        return md_raise_noargs(c, "builtins", "MemoryError");
    MD_CU_VAL(c->self) = attrs;
    return md_return_none(c);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* managers.Namespace.__repr__: 'name=repr' for public names, the strings
 * sorted (by text, so UTF-8 byte order: code point order, as Python's). */
static int ns_repr(md_obj *self, md_buf *out, md_pyerr *e)
{
    md_val *attrs = MD_CU_VAL(self);
    size_t n = md_dict_len(attrs), k = 0, pos = 0;
    char **parts = md_calloc(n ? n : 1, sizeof *parts);
    md_val *name, *v;
    int rc = parts ? 0 : -1;
    while (rc == 0 && md_dict_next(attrs, &pos, &name, &v)) {
        if (md_typeof(name) != MD_T_STR || md_str_data(name)[0] == '_')
            continue;
        md_buf b = MD_BUF_INIT;
        md_buf_printf(&b, "%s=", md_str_data(name));
        rc = md_val_repr(v, &b, e);
        size_t len;
        parts[k] = rc == 0 && !md_buf_failed(&b) ? md_buf_steal(&b, &len) : NULL;
        md_buf_free(&b);
        if (!parts[k])
            rc = -1;
        else
            k++;
    }
    if (rc == 0) {
        qsort(parts, k, sizeof *parts, cmp_text);
        md_buf_puts(out, "Namespace(");
        for (size_t i = 0; i < k; i++)
            md_buf_printf(out, "%s%s", i ? ", " : "", parts[i]);
        md_buf_puts(out, ")");
        rc = md_buf_failed(out) ? -1 : 0;
    }
    for (size_t i = 0; i < k; i++)
        md_free(parts[i]);
    md_free(parts);
    if (rc < 0 && !e->type)
        md_pyerr_set(e, "MemoryError", "out of memory");
    return rc;
}

/* #GETVALUE: a multiprocessing.managers.Namespace instance, pickled as
 * Python does (NEWOBJ with no arguments, BUILD with its __dict__, no
 * BUILD when it is empty). XML-RPC clients get the attributes as a
 * struct, which is what xmlrpclib makes of an instance. */
static md_val *ns_getvalue(md_obj *self, md_call *call, md_pyerr *e)
{
    md_val *attrs = md_cu_dict_copy(MD_CU_VAL(self));
    if (!attrs || call->protocol == 0) {
        if (!attrs)
            md_pyerr_set(e, "MemoryError", "out of memory");
        return attrs;
    }
    return md_cu_managers_instance("Namespace", attrs, e);
}

static const md_method ns_methods[] = {
    {.name = "__getattribute__", .fn = ns_getattribute, .params = {"name"}, .min_args = 1,
     .max_args = 1},
    {.name = "__setattr__", .fn = ns_setattr, .params = {"name", "value"}, .min_args = 2,
     .max_args = 2},
    {.name = "__delattr__", .fn = ns_delattr, .params = {"name"}, .min_args = 1,
     .max_args = 1},
    {.name = NULL},
};

const md_type md_type_namespace = {
    .name = "Namespace",
    .size = sizeof(md_cu_valobj),
    .methods = ns_methods,
    .init = ns_init,
    .ctor_flags = MD_M_VARKW,
    .finalize = md_cu_val_finalize,
    .repr = ns_repr,
    .getvalue = ns_getvalue,
};
