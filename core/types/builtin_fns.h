/* builtin_fns.h - the builtin callables managerd evaluates itself when a
 * client passes one as data: the function of map() and filter() and the
 * key of list.sort(). An allow-list of pure builtins (str, repr, int,
 * float, abs, len, bool, ord, tuple, list, str.lower/upper/casefold,
 * operator.itemgetter and operator.attrgetter), each written here in C
 * with Python's results and messages. Nothing is imported or called:
 * anything else, the client's own functions first, is refused with a
 * TypeError that names it.
 *
 * Internal to core/types/; the prefix is md_bf_.
 */
#ifndef MD_TYPES_BUILTIN_FNS_H
#define MD_TYPES_BUILTIN_FNS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/obj.h"

/* 0 if managerd can call fn; -1 with a TypeError naming fn and who
 * wanted it ("map()", "sort()"). */
int md_bf_check(const md_val *fn, const char *who, md_pyerr *e);
/* fn(*args) as a new value, or NULL with Python's error in e. fn must
 * have passed md_bf_check. */
md_val *md_bf_call(const md_val *fn, md_val *const *args, size_t nargs, md_pyerr *e);
/* Raise e on the call; a KeyError of an itemgetter gets the missing key
 * itself as its argument, as Python's has. Returns MD_CALL_DONE. */
int md_bf_raise(md_call *call, const md_pyerr *e);
/* Python's truth value (bool(v)) of a stored value. */
bool md_bf_truth(const md_val *v);

#endif /* MD_TYPES_BUILTIN_FNS_H */
