/* xmlrpc_example.c - a small C client of managerd's XML-RPC endpoint,
 * built on xmlrpc-c's client library: it shows that any XML-RPC client
 * shares objects with Python programs.
 *
 *   MANAGERD_AUTHKEY=KEY xmlrpc_example http://HOST:PORT/RPC2 [QUEUE [ITEM]]
 *
 * It creates a dict, sets and reads items, shows how a Python exception
 * arrives (fault 1, "KeyError: 'missing'"), puts ITEM (default "hello from
 * C") into the shared queue QUEUE (a --share name, default get_queue),
 * drops the dict and prints what it did. The authkey is the HTTP Basic
 * password; like managerd, this program never takes it from the command
 * line. Exit status 0 when every step did what it should.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>

#define NAME "managerd-xmlrpc-example"
#define VERSION "1.0"

static int failures;

static void check(xmlrpc_env *env, const char *what)
{
    if (env->fault_occurred) {
        fprintf(stderr, "xmlrpc_example: %s: %s (fault %d)\n", what, env->fault_string,
                env->fault_code);
        exit(1);
    }
}

static void expect(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok:  " : "FAIL:", what);
    if (!ok)
        failures++;
}

/* One call to the endpoint with a parameter array built from format. */
static xmlrpc_value *call(xmlrpc_env *env, xmlrpc_client *client, xmlrpc_server_info *server,
                          const char *method, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    xmlrpc_value *params = NULL;
    const char *tail = NULL;
    xmlrpc_build_value_va(env, format, ap, &params, &tail);
    va_end(ap);
    check(env, "building parameters");
    xmlrpc_value *result = NULL;
    xmlrpc_client_call2(env, client, server, method, params, &result);
    xmlrpc_DECREF(params);
    return result;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: MANAGERD_AUTHKEY=KEY %s http://HOST:PORT/RPC2 [QUEUE [ITEM]]\n",
                argv[0]);
        return 2;
    }
    const char *url = argv[1];
    const char *queue = argc > 2 ? argv[2] : "get_queue";
    const char *item = argc > 3 ? argv[3] : "hello from C";
    const char *key = getenv("MANAGERD_AUTHKEY");
    if (!key) {
        fprintf(stderr, "xmlrpc_example: set MANAGERD_AUTHKEY to the server's authkey\n");
        return 2;
    }

    xmlrpc_env env;
    xmlrpc_env_init(&env);
    xmlrpc_client_setup_global_const(&env);
    check(&env, "setting up xmlrpc-c");
    struct xmlrpc_clientparms parms;
    memset(&parms, 0, sizeof parms);
    parms.transport = "curl";
    xmlrpc_client *client = NULL;
    xmlrpc_client_create(&env, XMLRPC_CLIENT_NO_FLAGS, NAME, VERSION, &parms,
                         XMLRPC_CPSIZE(transport), &client);
    check(&env, "creating the client");
    xmlrpc_server_info *server = xmlrpc_server_info_new(&env, url);
    check(&env, "server info");
    xmlrpc_server_info_set_user(&env, server, "xmlrpc-example", key);
    xmlrpc_server_info_allow_auth_basic(&env, server);
    check(&env, "HTTP Basic authentication");

    /* create('dict', [], {}) -> [id, [exposed methods]] */
    xmlrpc_value *created = call(&env, client, server, "create", "(s(){})", "dict");
    check(&env, "create dict");
    xmlrpc_value *idv = NULL, *methods = NULL;
    xmlrpc_array_read_item(&env, created, 0, &idv);
    xmlrpc_array_read_item(&env, created, 1, &methods);
    check(&env, "reading create's result");
    const char *id = NULL;
    xmlrpc_read_string(&env, idv, &id);
    check(&env, "reading the id");
    printf("created dict %s with %d exposed methods\n", id, xmlrpc_array_size(&env, methods));
    expect(xmlrpc_array_size(&env, methods) > 10, "the dict exposes its methods");

    /* d['answer'] = 42; d['name'] = 'managerd' */
    xmlrpc_value *r = call(&env, client, server, "call", "(ss(si){})", id, "__setitem__",
                           "answer", 42);
    check(&env, "d['answer'] = 42");
    xmlrpc_DECREF(r);
    r = call(&env, client, server, "call", "(ss(ss){})", id, "__setitem__", "name", "managerd");
    check(&env, "d['name'] = 'managerd'");
    xmlrpc_DECREF(r);

    /* d['answer'] and len(d) */
    int answer = 0, len = 0;
    r = call(&env, client, server, "call", "(ss(s){})", id, "__getitem__", "answer");
    check(&env, "d['answer']");
    xmlrpc_read_int(&env, r, &answer);
    check(&env, "reading d['answer']");
    xmlrpc_DECREF(r);
    printf("d['answer'] = %d\n", answer);
    expect(answer == 42, "d['answer'] reads back 42");
    r = call(&env, client, server, "call", "(ss(){})", id, "__len__");
    check(&env, "len(d)");
    xmlrpc_read_int(&env, r, &len);
    xmlrpc_DECREF(r);
    printf("len(d) = %d\n", len);
    expect(len == 2, "len(d) is 2");

    /* d['missing'] raises KeyError: fault 1 */
    r = call(&env, client, server, "call", "(ss(s){})", id, "__getitem__", "missing");
    printf("d['missing'] -> fault %d: %s\n", env.fault_occurred ? env.fault_code : 0,
           env.fault_occurred ? env.fault_string : "(no fault)");
    /* xmlrpc-c's client puts "RPC failed at server.  " before the
     * server's faultString: look for the server's text at the end. */
    const char *want = "KeyError: 'missing'";
    size_t fl = env.fault_occurred ? strlen(env.fault_string) : 0;
    expect(env.fault_occurred && env.fault_code == 1 && fl >= strlen(want) &&
               strcmp(env.fault_string + fl - strlen(want), want) == 0,
           "d['missing'] is fault 1 \"KeyError: 'missing'\"");
    if (r)
        xmlrpc_DECREF(r);
    xmlrpc_env_clean(&env);
    xmlrpc_env_init(&env);

    /* put into the shared queue, by its --share name */
    r = call(&env, client, server, "call", "(ss(s){})", queue, "put", item);
    check(&env, "queue.put");
    expect(xmlrpc_value_type(r) == XMLRPC_TYPE_NIL, "queue.put returns nil");
    xmlrpc_DECREF(r);
    printf("put '%s' into %s\n", item, queue);

    /* drop the dict */
    r = call(&env, client, server, "decref", "(s)", id);
    check(&env, "decref");
    xmlrpc_DECREF(r);
    printf("dropped %s\n", id);

    free((void *)id);
    xmlrpc_DECREF(idv);
    xmlrpc_DECREF(methods);
    xmlrpc_DECREF(created);
    xmlrpc_server_info_free(server);
    xmlrpc_client_destroy(client);
    xmlrpc_client_teardown_global_const();
    xmlrpc_env_clean(&env);
    printf("%s\n", failures ? "xmlrpc_example: FAILED" : "xmlrpc_example: all steps ok");
    return failures ? 1 : 0;
}
