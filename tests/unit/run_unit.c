/* run_unit.c - runs every CUnit suite of managerd and exits non-zero on
 * any failure. `run_unit SUITE` runs one suite. */
#include "tests/unit/unit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MD_FIXTURES_DIR
#define MD_FIXTURES_DIR "tests/fixtures/wire"
#endif

const char *md_test_fixtures_dir(void)
{
    const char *env = getenv("MD_FIXTURES_DIR");
    return env && *env ? env : MD_FIXTURES_DIR;
}

uint8_t *md_test_read_fixture(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", md_test_fixtures_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *data = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *p = realloc(data, cap);
            if (!p) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = p;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return data;
}

void md_test_fatal(const char *what)
{
    fprintf(stderr, "run_unit: cannot register %s: %s\n", what, CU_get_error_msg());
    exit(2);
}

CU_pSuite md_test_suite(const char *name)
{
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    if (!s)
        md_test_fatal(name);
    return s;
}

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    const char *only = argc > 1 ? argv[1] : NULL;
#define MD_UNIT_REGISTER(name)                                         \
    if (!only || strcmp(only, #name) == 0)                             \
        md_test_register_##name();
    MD_UNIT_SUITES(MD_UNIT_REGISTER)
#undef MD_UNIT_REGISTER
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (run == 0) {
        fprintf(stderr, "run_unit: no test ran\n");
        return 1;
    }
    return failed ? 1 : 0;
}
