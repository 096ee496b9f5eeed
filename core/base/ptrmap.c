/* ptrmap.c - the open-addressing map from pointer-sized keys to
 * pointer-sized values (ptrmap.h says who uses it and why). */
#include "core/base/ptrmap.h"

#include <string.h>

#include "core/base/alloc.h"

/* The smallest table the map allocates. */
#define PTRMAP_MIN_CAP 16

/* murmur3's 64-bit finaliser: every key bit reaches the low bits that
 * pick the slot. Addresses handed out by malloc in steps of 16 or 32, and
 * memo indices in steps of one, would otherwise pile into runs. */
static inline size_t mix(uintptr_t key)
{
    uint64_t h = (uint64_t)key;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (size_t)h;
}

void md_ptrmap_init(md_ptrmap *m)
{
    memset(m, 0, sizeof *m);
}

void md_ptrmap_init_buf(md_ptrmap *m, md_ptrmap_ent *buf, size_t cap)
{
    memset(m, 0, sizeof *m);
    memset(buf, 0, cap * sizeof *buf);
    m->slots = m->own_buf = buf;
    m->cap = m->own_cap = cap;
}

void md_ptrmap_free(md_ptrmap *m)
{
    if (m->slots != m->own_buf)
        md_free(m->slots);
    if (m->own_buf)
        md_ptrmap_init_buf(m, m->own_buf, m->own_cap);
    else
        md_ptrmap_init(m);
}

md_ptrmap_ent *md_ptrmap_find(const md_ptrmap *m, uintptr_t key)
{
    if (!m->used)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
        md_ptrmap_ent *s = &m->slots[i];
        if (s->key == key)
            return s;
        if (s->key == 0)
            return NULL;
    }
}

/* Moves the live entries into a fresh table with room for one more at
 * most a quarter full, which drops the dummies: 0, or -1 (unchanged). */
static int rehash(md_ptrmap *m)
{
    size_t cap = PTRMAP_MIN_CAP;
    while (cap / 4 < m->used + 1) {
        if (cap > SIZE_MAX / 2 / sizeof(md_ptrmap_ent))
            return -1;
        cap *= 2;
    }
    md_ptrmap_ent *slots = md_calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        uintptr_t key = m->slots[i].key;
        if (key == 0 || key == MD_PTRMAP_DUMMY)
            continue;
        size_t j = mix(key) & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    if (m->slots != m->own_buf)
        md_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->filled = m->used;
    return 0;
}

md_ptrmap_ent *md_ptrmap_insert(md_ptrmap *m, uintptr_t key, bool *added)
{
    *added = false;
    md_ptrmap_ent *found = md_ptrmap_find(m, key);
    if (found)
        return found;
    if ((m->filled + 1) * 2 > m->cap && rehash(m) < 0)
        return NULL;
    size_t mask = m->cap - 1, i = mix(key) & mask;
    /* The first dummy on the way is reused; the key is known absent. */
    while (m->slots[i].key != 0 && m->slots[i].key != MD_PTRMAP_DUMMY)
        i = (i + 1) & mask;
    if (m->slots[i].key == 0)
        m->filled++;
    m->slots[i] = (md_ptrmap_ent){ key, 0 };
    m->used++;
    *added = true;
    return &m->slots[i];
}

int md_ptrmap_put(md_ptrmap *m, uintptr_t key, uintptr_t val)
{
    bool added;
    md_ptrmap_ent *ent = md_ptrmap_insert(m, key, &added);
    if (!ent)
        return -1;
    ent->val = val;
    return 0;
}

bool md_ptrmap_remove(md_ptrmap *m, uintptr_t key)
{
    md_ptrmap_ent *ent = md_ptrmap_find(m, key);
    if (!ent)
        return false;
    ent->key = MD_PTRMAP_DUMMY;
    ent->val = 0;
    m->used--;
    return true;
}

bool md_ptrmap_next(const md_ptrmap *m, size_t *pos, md_ptrmap_ent **ent)
{
    while (*pos < m->cap) {
        md_ptrmap_ent *s = &m->slots[(*pos)++];
        if (s->key != 0 && s->key != MD_PTRMAP_DUMMY) {
            *ent = s;
            return true;
        }
    }
    return false;
}
