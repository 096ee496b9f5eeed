/* registry.h - the built-in shared types: one line each in one table.
 *
 * Adding a shared type takes its file in core/types/ (its md_type, whose
 * method rows also give its exposed tuple: core/obj.h), one line below,
 * and its source line in Makefile.am. The line declares md_type_<name>
 * for the other files, registers the typeid (the md_type's .name) in
 * every server, and lists it in `managerd --help`; the tests check the
 * README and managerd(1) against that list (tests/ops/typeids.sh).
 */
#ifndef MD_TYPES_REGISTRY_H
#define MD_TYPES_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/obj.h"

/* X(name, listed): md_type_<name> is a built-in type, registered under
 * its own .name in this order (SyncManager's). listed is true for the
 * typeids a manager has a create method for (m.Queue()); Iterator only
 * comes back from a method (dict.__iter__), as CPython registers it with
 * create_method=False, so --help does not list it. */
#define MD_BUILTIN_TYPES(X)        \
    X(queue, true)                 \
    X(joinable_queue, true)        \
    X(event, true)                 \
    X(lock, true)                  \
    X(rlock, true)                 \
    X(semaphore, true)             \
    X(bounded_semaphore, true)     \
    X(condition, true)             \
    X(barrier, true)               \
    X(list, true)                  \
    X(dict, true)                  \
    X(set, true)                   \
    X(value, true)                 \
    X(array, true)                 \
    X(namespace, true)             \
    X(iterator, false)

#define MD_BUILTIN_TYPE_DECLARE(name, listed) extern const md_type md_type_##name;
MD_BUILTIN_TYPES(MD_BUILTIN_TYPE_DECLARE)
#undef MD_BUILTIN_TYPE_DECLARE

/* The i-th built-in type in the table's order, or NULL past the end;
 * *listed (may be NULL) says whether --help lists it. */
const md_type *md_reg_builtin_at(size_t i, bool *listed);

/* The i-th name of t's exposed tuple (see md_type.methods), or NULL past
 * the end. */
const char *md_type_exposed_name(const md_type *t, size_t i);

/* ---- a server's registry: typeid -> type ------------------------------ */

typedef enum md_reg_kind {
    MD_REG_TYPE,       /* each create makes a new object (SyncManager) */
    MD_REG_SHARED,     /* --share: every create returns one object */
    MD_REG_REFUSED     /* Pool, AsyncResult: refused with a reason */
} md_reg_kind;

typedef struct md_reg_entry {
    char *typeid;
    const md_type *type;         /* NULL for refused typeids */
    md_reg_kind kind;
    md_obj *shared;              /* MD_REG_SHARED: the one object */
    md_val *exposed;             /* cached exposed tuple */
    const char *refusal;         /* MD_REG_REFUSED: why */
} md_reg_entry;

/* Add a typeid. For MD_REG_SHARED the object is made on first use.
 * Returns 0, or -1 if the type name is unknown (errbuf says so). */
int md_reg_add(md_server *srv, const char *typeid, const char *type_name,
               md_reg_kind kind, char *errbuf, size_t errlen);
/* Register every SyncManager typeid. */
int md_reg_add_syncmanager(md_server *srv);
/* The built-in type of that name ("dict", "Queue", ...), or NULL. */
const md_type *md_reg_builtin_type(const char *type_name);

/* The entry of a typeid, or NULL; its exposed tuple (built once). */
md_reg_entry *md_reg_find(md_server *srv, const md_val *typeid);
md_val *md_reg_exposed(md_reg_entry *e);   /* borrowed */
md_val *md_type_exposed_tuple(const md_type *t);  /* new */
void md_reg_clear(md_server *srv);

#endif /* MD_TYPES_REGISTRY_H */
