/* iterables.h - the lazy iterables and helper objects a client may pass
 * where Python accepts any iterable (m.list(range(10)), d.update(zip(k,
 * v)), l[0:2] = map(str, x), ...). They arrive as pickled calls:
 * builtins.range, zip, enumerate, reversed, map, filter, iter (with its
 * __setstate__ position), collections.deque. managerd evaluates them
 * itself from this allow-list, lazily (zip stops at its shortest
 * argument) and within MD_MAX_ITER_ITEMS steps; nothing is imported or
 * called. map() and filter() take only the builtins of builtin_fns.h.
 *
 * Internal to core/types/; the prefix is md_it_. md_cu_items() is the
 * one entry every container uses; it calls this for opaque values.
 */
#ifndef MD_TYPES_ITERABLES_H
#define MD_TYPES_ITERABLES_H

#include "core/value/value.h"

/* The items of an opaque lazy iterable as a new list, or NULL with e
 * set: TypeError "'X' object is not iterable" for anything not on the
 * allow-list, MemoryError past MD_MAX_ITER_ITEMS steps, and the errors
 * of map()'s function. */
md_val *md_it_items(const md_val *v, md_pyerr *e);

/* Steps one evaluation may take (0 restores MD_MAX_ITER_ITEMS); returns
 * the old value. For tests of the limit. */
size_t md_it_set_limit(size_t steps);

#endif /* MD_TYPES_ITERABLES_H */
