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

#endif /* MD_TYPES_REGISTRY_H */
