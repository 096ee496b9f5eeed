/* install_prog.c - a user's first program against the installed
 * libmanagerd-client (tests/client/install.sh builds it with pkg-config,
 * shared and static): it needs only mdc.h and prints the repr of a value
 * built with the library, with no server. */
#include <stdio.h>
#include <stdlib.h>

#include <mdc.h>

int main(void)
{
    mdc_value *k = mdc_str("answer"), *v = mdc_int(42);
    mdc_value *t = mdc_tuple(2, k, v);
    char *r = t ? mdc_repr(t) : NULL;
    if (!r) {
        fprintf(stderr, "install_prog: mdc_repr failed\n");
        return 1;
    }
    printf("%s\n", r);
    free(r);
    mdc_value_free(t);
    mdc_value_free(k);
    mdc_value_free(v);
    return 0;
}
