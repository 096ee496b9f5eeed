/* segments.c - SharedMemoryManager's server methods: track_segment,
 * release_segment and list_segments, and unlinking what is still
 * tracked when the server shuts down, as CPython's SharedMemoryServer
 * does. */
#include "core/disp/disp_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "core/base/limits.h"

/* Only names of the form Python's shared_memory makes may be tracked:
 * the server unlinks tracked names, and must not be made to remove any
 * other file its user may remove. */
static bool shm_name_ok(const md_val *name)
{
    size_t plen = strlen(MD_SHM_NAME_PREFIX);
    const char *s = md_str_data(name);
    if (md_str_nbytes(name) != plen + MD_SHM_NAME_HEX || strncmp(s, MD_SHM_NAME_PREFIX, plen))
        return false;
    for (size_t i = plen; i < plen + MD_SHM_NAME_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

void md_srv_track_segment(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)kwds;
    size_t n;
    md_val *name = md_seq_items(args, &n)[0];   /* the table checked n */
    if (md_typeof(name) != MD_T_STR) {
        md_raise_traceback(call, "TypeError", "track_segment() expects a segment name");
        return;
    }
    if (!shm_name_ok(name)) {
        char r[100];
        md_val_short_repr(name, r, sizeof r, "");
        md_raise_traceback(call, "ValueError",
                           "managerd tracks only segment names made by multiprocessing."
                           "shared_memory (%s + %d hex digits), not %s",
                           MD_SHM_NAME_PREFIX, MD_SHM_NAME_HEX, r);
        return;
    }
    if (md_list_append(call->server->segments, name) < 0) {
        md_raise_traceback(call, "MemoryError", "track_segment");
        return;
    }
    md_return_none(call);
}

static int shm_unlink_name(const md_val *name)
{
    char path[32];
    if (!shm_name_ok(name))
        return -1;
    snprintf(path, sizeof path, "/%s", md_str_data(name));
    return shm_unlink(path);
}

void md_srv_release_segment(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)kwds;
    size_t n;
    md_val *name = md_seq_items(args, &n)[0];   /* the table checked n */
    md_val *segs = call->server->segments;
    md_pyerr e;
    md_pyerr_clear(&e);
    for (size_t i = 0; i < md_list_len(segs); i++) {
        if (md_val_eq(md_list_get(segs, i), name, &e) != 1)
            continue;
        md_list_del(segs, i);
        if (md_typeof(name) == MD_T_STR && shm_unlink_name(name) < 0) {
            md_raise_traceback(call, "FileNotFoundError",
                               "[Errno 2] No such file or directory: '/%s'", md_str_data(name));
            return;
        }
        md_return_none(call);
        return;
    }
    md_raise_traceback(call, "ValueError", "list.remove(x): x not in list");
}

void md_srv_list_segments(md_call *call, const md_val *args, const md_val *kwds)
{
    (void)args, (void)kwds;
    md_val *segs = call->server->segments;
    md_val *copy = md_list_new(md_list_len(segs));
    for (size_t i = 0; copy && i < md_list_len(segs); i++)
        if (md_list_append(copy, md_list_get(segs, i)) < 0) {
            md_decref(copy);
            copy = NULL;
        }
    md_return(call, copy);
}

void md_srv_unlink_segments(md_server *srv)
{
    md_val *segs = srv->segments;
    while (segs && md_list_len(segs)) {
        md_val *name = md_list_get(segs, 0);
        if (md_typeof(name) == MD_T_STR)
            shm_unlink_name(name);
        md_list_del(segs, 0);
    }
}
