/* unit.h - shared helpers of the CUnit test runner.
 *
 * Each test module defines one registration function, listed in
 * run_unit.c, that adds its suite(s) with CU_add_suite/CU_add_test.
 */
#ifndef MD_UNIT_H
#define MD_UNIT_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

#ifndef MD_UNIT_SUITES
#define MD_UNIT_SUITES(X) \
    X(value)              \
    X(value_std)          \
    X(value_table)        \
    X(value_pending)      \
    X(value_gift)         \
    X(outq)               \
    X(pickle)             \
    X(pickle_view)        \
    X(pickle_keyhash)     \
    X(pickle_flat)        \
    X(frame)              \
    X(auth)               \
    X(types_sync)         \
    X(types_containers)   \
    X(types_iterables)    \
    X(xmlrpc)             \
    X(security)           \
    X(log)                \
    X(address)            \
    X(buf)                \
    X(alloc)              \
    X(ptrmap)             \
    X(objtab)             \
    X(introspect)         \
    X(registry)           \
    X(disp)               \
    X(park)               \
    X(listen)             \
    X(http)               \
    X(activation)         \
    X(codec)
#endif

#define MD_UNIT_DECLARE(name) void md_test_register_##name(void);
MD_UNIT_SUITES(MD_UNIT_DECLARE)
#undef MD_UNIT_DECLARE

/* Read a whole fixture file from tests/fixtures/wire (malloc'd; NULL if
 * missing, which the caller must turn into a failed assertion). */
uint8_t *md_test_read_fixture(const char *name, size_t *len);
/* Directory of the wire fixtures. */
const char *md_test_fixtures_dir(void);

/* Register a test, aborting the run if CUnit cannot (out of memory). */
#define MD_ADD_TEST(suite, fn)                                         \
    do {                                                               \
        if (!CU_add_test((suite), #fn, (fn)))                          \
            md_test_fatal(#fn);                                        \
    } while (0)

CU_pSuite md_test_suite(const char *name);
_Noreturn void md_test_fatal(const char *what);

#endif /* MD_UNIT_H */
