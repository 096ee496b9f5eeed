/* test_mdc.c - the C client library against a live manager server
 * (managerd or CPython's own): test_mdc ADDRESS AUTHKEY [PROTOCOL].
 * Prints one line per check and 'N passed, M failed'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clients/mdc.h"
#include "tests/client/mdc_check.h"

static int repr_is(const mdc_value *v, const char *want)
{
    char *r = mdc_repr(v);
    int ok = r && strcmp(r, want) == 0;
    if (!ok)
        printf("  repr: got %s, want %s\n", r ? r : "(null)", want);
    free(r);
    return ok;
}

static void test_dict(mdc_client *c, long start, int protocol)
{
    char id[64];
    int rc = mdc_create(c, "dict", NULL, NULL, id, sizeof id);
    CHECK(rc == MDC_RETURN, "create dict: %s", mdc_errstr(c));
    CHECK(mdc_number_of_objects(c) == start + 1, "one more object");

    mdc_value *k = mdc_str("answer"), *v = mdc_int(42), *res = NULL;
    mdc_value *args = mdc_tuple(2, k, v);
    rc = mdc_call(c, id, "__setitem__", args, NULL, &res);
    CHECK(rc == MDC_RETURN && strcmp(mdc_type_name(res), "NoneType") == 0, "setitem");
    mdc_value_free(res);
    mdc_value_free(args);

    args = mdc_tuple(1, k);
    rc = mdc_call(c, id, "__getitem__", args, NULL, &res);
    int64_t got = 0;
    CHECK(rc == MDC_RETURN && mdc_int_get(res, &got) == 0 && got == 42, "getitem gives 42");
    mdc_value_free(res);
    mdc_value_free(args);

    mdc_value *missing = mdc_str("missing");
    args = mdc_tuple(1, missing);
    rc = mdc_call(c, id, "__getitem__", args, NULL, &res);
    CHECK(rc == MDC_EXCEPTION && mdc_exc_class(res) && strcmp(mdc_exc_class(res), "KeyError") == 0,
          "missing key raises KeyError (rc %d)", rc);
    CHECK(rc == MDC_EXCEPTION && repr_is(res, "KeyError('missing')"), "KeyError carries the key");
    mdc_value_free(res);
    mdc_value_free(args);
    mdc_value_free(missing);

    rc = mdc_call(c, id, "__repr__", NULL, NULL, &res);
    /* A Python 2 server shows the unicode key as u'answer'. */
    const char *want = protocol == 2 ? "{u'answer': 42}" : "{'answer': 42}";
    CHECK(rc == MDC_RETURN && mdc_str_get(res) && strcmp(mdc_str_get(res), want) == 0,
          "repr of the dict: %s", mdc_str_get(res) ? mdc_str_get(res) : "?");
    mdc_value_free(res);

    rc = mdc_call(c, id, "no_such_method", NULL, NULL, &res);
    CHECK(rc == MDC_REMOTE_ERROR && mdc_str_get(res) && strstr(mdc_str_get(res), "no_such_method"),
          "unexposed method is a remote error");
    mdc_value_free(res);

    rc = mdc_call(c, id, "__iter__", NULL, NULL, &res);
    const char *it = rc == MDC_RETURN ? mdc_token_ident(res) : NULL;
    CHECK(it != NULL, "__iter__ returns a proxy token");
    if (it) {
        char itid[64];
        snprintf(itid, sizeof itid, "%s", it);
        mdc_value *next = NULL;
        const char *next_name = protocol == 2 ? "next" : "__next__";
        int r2 = mdc_call(c, itid, next_name, NULL, NULL, &next);
        CHECK(r2 == MDC_RETURN && repr_is(next, "'answer'"), "iterator yields the key");
        mdc_value_free(next);
        r2 = mdc_call(c, itid, next_name, NULL, NULL, &next);
        CHECK(r2 == MDC_EXCEPTION && strcmp(mdc_exc_class(next), "StopIteration") == 0,
              "then StopIteration");
        mdc_value_free(next);
        CHECK(mdc_decref(c, itid) == MDC_RETURN, "decref the iterator");
    }
    mdc_value_free(res);
    mdc_value_free(k);
    mdc_value_free(v);

    CHECK(mdc_decref(c, id) == MDC_RETURN, "decref the dict");
    CHECK(mdc_number_of_objects(c) == start, "objects back to the start");
}

static void test_queue(mdc_client *c)
{
    char id[64];
    CHECK(mdc_create(c, "Queue", NULL, NULL, id, sizeof id) == MDC_RETURN, "create Queue");
    mdc_value *item = mdc_bytes("\x00\xff", 2), *res = NULL;
    mdc_value *args = mdc_tuple(1, item);
    CHECK(mdc_call(c, id, "put", args, NULL, &res) == MDC_RETURN, "put");
    mdc_value_free(res);
    mdc_value_free(args);
    CHECK(mdc_call(c, id, "get", NULL, NULL, &res) == MDC_RETURN && repr_is(res, "b'\\x00\\xff'"),
          "get returns the bytes");
    mdc_value_free(res);
    mdc_value *f = mdc_bool(0);
    args = mdc_tuple(1, f);
    int rc = mdc_call(c, id, "get", args, NULL, &res);
    CHECK(rc == MDC_EXCEPTION && strcmp(mdc_exc_class(res), "Empty") == 0, "get(False) raises Empty");
    mdc_value_free(res);
    mdc_value_free(args);
    mdc_value_free(f);
    mdc_value_free(item);
    CHECK(mdc_decref(c, id) == MDC_RETURN, "decref the queue");
}

static void test_bad_key(const char *address)
{
    mdc_client *bad = mdc_client_new(address, "wrong key", 9);
    CHECK(bad && mdc_ping(bad) == MDC_ERR_AUTH, "a wrong key fails the handshake");
    mdc_client_free(bad);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_mdc ADDRESS AUTHKEY [PROTOCOL]\n");
        return 2;
    }
    mdc_client *c = mdct_connect(argv[1], argv[2], 30);
    if (!c)
        return 2;
    if (argc > 3)
        mdc_set_protocol(c, atoi(argv[3]));
    CHECK(mdc_ping(c) == MDC_RETURN, "ping: %s", mdc_errstr(c));
    long start = mdc_number_of_objects(c);
    CHECK(start >= 0, "number_of_objects: %s", mdc_errstr(c));
    test_dict(c, start, argc > 3 ? atoi(argv[3]) : 4);
    test_queue(c);
    test_bad_key(argv[1]);
    mdc_client_free(c);
    return mdct_summary();
}
