/* test_value_std.c - standard-library values decoded from real pickles. */
#include "tests/unit/unit.h"

void md_test_register_value_std(void)
{
    md_test_suite("value_std");
}
