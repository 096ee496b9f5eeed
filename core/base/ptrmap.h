/* ptrmap.h - one open-addressing map from a pointer-sized key to a
 * pointer-sized value, for every table keyed by identity or by a small
 * integer: the pickle encoder's memo (object -> memo index) and its
 * memo of global names (text hash -> entry), the decoder's memo indices
 * beyond the message size, deepcopy's memo (original -> copy) and the
 * proxy walk's visited set.
 *
 * Keys are uintptr_t; two values are reserved: 0 (an empty slot) and
 * MD_PTRMAP_DUMMY (a deleted one). Object addresses, and integers plus
 * one below UINTPTR_MAX, never take them. Values are the caller's: the
 * map neither owns nor frees what they point to.
 *
 * Linear probing over a full 64-bit mix of the key, at most half full
 * (dummies included), so a probe stays in one or two cache lines. A map
 * may start in a buffer of the caller's (a few entries on the stack or in
 * a struct, so that small uses never allocate); it moves to the heap when
 * it grows. Functions that allocate return -1 (or NULL) on failure with
 * the map unchanged.
 */
#ifndef MD_PTRMAP_H
#define MD_PTRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MD_PTRMAP_DUMMY UINTPTR_MAX

typedef struct md_ptrmap_ent {
    uintptr_t key;   /* 0: empty; MD_PTRMAP_DUMMY: deleted */
    uintptr_t val;
} md_ptrmap_ent;

typedef struct md_ptrmap {
    md_ptrmap_ent *slots;
    size_t cap;       /* slots, a power of two (0: none yet) */
    size_t used;      /* live keys */
    size_t filled;    /* live keys and dummies */
    md_ptrmap_ent *own_buf;   /* the caller's first buffer, never freed */
    size_t own_cap;
} md_ptrmap;

/* An empty map that allocates on its first insert. */
void md_ptrmap_init(md_ptrmap *m);
/* An empty map in the caller's zeroed buffer of cap entries (a power of
 * two, at least 2), which must outlive the map. */
void md_ptrmap_init_buf(md_ptrmap *m, md_ptrmap_ent *buf, size_t cap);
/* Frees what the map allocated; it is then empty (in its first buffer,
 * if it had one) and usable again. */
void md_ptrmap_free(md_ptrmap *m);

static inline size_t md_ptrmap_len(const md_ptrmap *m)
{
    return m->used;
}

/* The entry of key, or NULL. The pointer is valid until the next insert. */
md_ptrmap_ent *md_ptrmap_find(const md_ptrmap *m, uintptr_t key);
/* The entry of key, added with val 0 if absent (*added says which);
 * NULL when the map could not grow (nothing changed). */
md_ptrmap_ent *md_ptrmap_insert(md_ptrmap *m, uintptr_t key, bool *added);
/* map[key] = val, replacing a value already there: 0 or -1 (no memory). */
int md_ptrmap_put(md_ptrmap *m, uintptr_t key, uintptr_t val);
/* Removes key, leaving a dummy: true if it was there. */
bool md_ptrmap_remove(md_ptrmap *m, uintptr_t key);
/* The next live entry from *pos (start at 0), in slot order; false at
 * the end. The map must not change during a walk. */
bool md_ptrmap_next(const md_ptrmap *m, size_t *pos, md_ptrmap_ent **ent);

#endif /* MD_PTRMAP_H */
