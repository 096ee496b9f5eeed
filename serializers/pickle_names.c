/* pickle_names.c - global names across Python families: which Python 2
 * names a Python 3 reader maps (Lib/_compat_pickle.py, applied the same
 * way here), which names managerd writes for each protocol, and which
 * classes are exceptions it keeps as real exception values. Pure data
 * plus small lookups; the decoder and encoder share it. */
#include "serializers/pickle_int.h"

#include <stddef.h>
#include <string.h>

typedef struct modmap { const char *py2, *py3; } modmap;
typedef struct namemap { const char *mod2, *name2, *mod3, *name3; } namemap;

/* IMPORT_MAPPING entries that map both ways. The first five are the
 * ones manager traffic uses; Python 3 has no module of their Python 2
 * names, so they are mapped at every protocol. */
#define CORE_MODULES 5
static const modmap modules[] = {
    { "__builtin__", "builtins" }, { "copy_reg", "copyreg" },
    { "Queue", "queue" }, { "thread", "_thread" },
    { "exceptions", "builtins" },
    { "SocketServer", "socketserver" }, { "ConfigParser", "configparser" },
    { "repr", "reprlib" }, { "markupbase", "_markupbase" },
    { "_winreg", "winreg" }, { "dummy_thread", "_dummy_thread" },
    { "dbhash", "dbm.bsd" }, { "dumbdbm", "dbm.dumb" }, { "dbm", "dbm.ndbm" },
    { "gdbm", "dbm.gnu" }, { "xmlrpclib", "xmlrpc.client" },
    { "SimpleXMLRPCServer", "xmlrpc.server" }, { "httplib", "http.client" },
    { "htmlentitydefs", "html.entities" }, { "HTMLParser", "html.parser" },
    { "Cookie", "http.cookies" }, { "cookielib", "http.cookiejar" },
    { "BaseHTTPServer", "http.server" }, { "test.test_support", "test.support" },
    { "commands", "subprocess" }, { "urlparse", "urllib.parse" },
    { "robotparser", "urllib.robotparser" }, { "urllib2", "urllib.request" },
    { "anydbm", "dbm" }, { "_abcoll", "collections.abc" },
};
#define NMODULES (sizeof modules / sizeof modules[0])

/* NAME_MAPPING entries (both ways) that concern values in traffic. */
static const namemap names[] = {
    { "__builtin__", "xrange", "builtins", "range" },
    { "__builtin__", "reduce", "functools", "reduce" },
    { "__builtin__", "intern", "sys", "intern" },
    { "__builtin__", "unichr", "builtins", "chr" },
    { "__builtin__", "unicode", "builtins", "str" },
    { "__builtin__", "long", "builtins", "int" },
    { "itertools", "izip", "builtins", "zip" },
    { "itertools", "imap", "builtins", "map" },
    { "itertools", "ifilter", "builtins", "filter" },
    { "itertools", "ifilterfalse", "itertools", "filterfalse" },
    { "itertools", "izip_longest", "itertools", "zip_longest" },
    { "UserDict", "IterableUserDict", "collections", "UserDict" },
    { "UserList", "UserList", "collections", "UserList" },
    { "UserString", "UserString", "collections", "UserString" },
    { "whichdb", "whichdb", "dbm", "whichdb" },
    { "_socket", "fromfd", "socket", "fromfd" },
    { "_multiprocessing", "Connection", "multiprocessing.connection", "Connection" },
    { "multiprocessing.process", "Process", "multiprocessing.context", "Process" },
    { "multiprocessing.forking", "Popen", "multiprocessing.popen_fork", "Popen" },
    { "urllib2", "HTTPError", "urllib.error", "HTTPError" },
    { "urllib2", "URLError", "urllib.error", "URLError" },
};
#define NNAMES (sizeof names / sizeof names[0])

/* Python 2 exception names that exist under the same name in Python 3
 * (_compat_pickle.PYTHON2_EXCEPTIONS): builtins.X is written as
 * exceptions.X at protocol 2. */
static const char *const py2_exceptions[] = {
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException",
    "BufferError", "BytesWarning", "DeprecationWarning", "EOFError",
    "EnvironmentError", "Exception", "FloatingPointError", "FutureWarning",
    "GeneratorExit", "IOError", "ImportError", "ImportWarning",
    "IndentationError", "IndexError", "KeyError", "KeyboardInterrupt",
    "LookupError", "MemoryError", "NameError", "NotImplementedError",
    "OSError", "OverflowError", "PendingDeprecationWarning", "ReferenceError",
    "RuntimeError", "RuntimeWarning", "StopIteration", "SyntaxError",
    "SyntaxWarning", "SystemError", "SystemExit", "TabError", "TypeError",
    "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError",
    "UnicodeError", "UnicodeTranslateError", "UnicodeWarning", "UserWarning",
    "ValueError", "Warning", "ZeroDivisionError",
};

/* Python 3 subclasses of OSError / ImportError that Python 3 writes as
 * their base class at protocol 2. */
static const char *const py3_oserrors[] = {
    "BrokenPipeError", "ChildProcessError", "ConnectionAbortedError",
    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
    "FileExistsError", "FileNotFoundError", "InterruptedError",
    "IsADirectoryError", "NotADirectoryError", "PermissionError",
    "ProcessLookupError", "TimeoutError",
};

/* Every exception class of Python 3's builtins module (3.6 - 3.13) and
 * the Python 2-only aliases. */
static const char *const builtin_exceptions[] = {
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException",
    "BaseExceptionGroup", "BlockingIOError", "BrokenPipeError", "BufferError",
    "BytesWarning", "ChildProcessError", "ConnectionAbortedError",
    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError",
    "DeprecationWarning", "EOFError", "EncodingWarning", "EnvironmentError",
    "Exception", "ExceptionGroup", "FileExistsError", "FileNotFoundError",
    "FloatingPointError", "FutureWarning", "GeneratorExit", "IOError",
    "ImportError", "ImportWarning", "IndentationError", "IndexError",
    "InterruptedError", "IsADirectoryError", "KeyError", "KeyboardInterrupt",
    "LookupError", "MemoryError", "ModuleNotFoundError", "NameError",
    "NotADirectoryError", "NotImplementedError", "OSError", "OverflowError",
    "PendingDeprecationWarning", "PermissionError", "ProcessLookupError",
    "PythonFinalizationError", "RecursionError", "ReferenceError",
    "ResourceWarning", "RuntimeError", "RuntimeWarning", "StandardError",
    "StopAsyncIteration", "StopIteration", "SyntaxError", "SyntaxWarning",
    "SystemError", "SystemExit", "TabError", "TimeoutError", "TypeError",
    "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError",
    "UnicodeError", "UnicodeTranslateError", "UnicodeWarning", "UserWarning",
    "ValueError", "Warning", "WindowsError", "ZeroDivisionError",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void py3_spelling(const char *module, const char *name, int protocol,
                         const char **out_module, const char **out_name)
{
    *out_module = module;
    *out_name = name;
    if (strcmp(module, "exceptions") == 0) {
        *out_module = "builtins";
        if (strcmp(name, "StandardError") == 0)
            *out_name = "Exception";
        return;
    }
    if (strcmp(module, "__builtin__") == 0 && strcmp(name, "basestring") == 0) {
        *out_module = "builtins";
        *out_name = "str";
        return;
    }
    bool all = protocol < 3;
    for (size_t i = 0; all && i < NNAMES; i++) {
        if (strcmp(module, names[i].mod2) == 0 && strcmp(name, names[i].name2) == 0) {
            *out_module = names[i].mod3;
            *out_name = names[i].name3;
            return;
        }
    }
    size_t nmod = all ? NMODULES : CORE_MODULES;
    for (size_t i = 0; i < nmod; i++) {
        if (strcmp(module, modules[i].py2) == 0) {
            *out_module = modules[i].py3;
            return;
        }
    }
}

void md_pickle__py3_name(const char *module, const char *name, int protocol,
                         const char **out_module, const char **out_name)
{
    py3_spelling(module, name, protocol, out_module, out_name);
    /* queue.Empty is _queue.Empty since 3.7: one spelling for the class
     * however it came (2.7's Queue.Empty, 3.6's queue.Empty), the inverse
     * of md_pickle__wire_name, so a value prints the same after a round
     * trip through any protocol. */
    if (strcmp(*out_module, "queue") == 0 && strcmp(*out_name, "Empty") == 0)
        *out_module = "_queue";
}

bool md_pickle__exc_class(const char *module, const char *name,
                          const char **out_module, const char **out_name)
{
    *out_module = module;
    *out_name = name;
    if (strcmp(module, "builtins") == 0) {
        if (!in_list(name, builtin_exceptions, COUNT(builtin_exceptions)))
            return false;
        /* Aliases become the class Python 3 would create. */
        if (strcmp(name, "IOError") == 0 || strcmp(name, "EnvironmentError") == 0 ||
            strcmp(name, "WindowsError") == 0)
            *out_name = "OSError";
        else if (strcmp(name, "StandardError") == 0)
            *out_name = "Exception";
        return true;
    }
    if (strcmp(module, "queue") == 0 || strcmp(module, "_queue") == 0) {
        if (strcmp(name, "Empty") == 0) {
            /* queue.Empty is _queue.Empty since 3.7. */
            *out_module = "_queue";
            return true;
        }
        if (strcmp(name, "Full") == 0 || strcmp(name, "ShutDown") == 0) {
            *out_module = "queue";
            return true;
        }
        return false;
    }
    if (strcmp(module, "threading") == 0)
        return strcmp(name, "BrokenBarrierError") == 0;
    if (strcmp(module, "_thread") == 0)
        return strcmp(name, "error") == 0;
    return false;
}

void md_pickle__wire_name(const char *module, const char *name, int protocol,
                          const char **out_module, const char **out_name)
{
    *out_module = module;
    *out_name = name;
    if (protocol >= 4)
        return;
    if (strcmp(module, "_queue") == 0 && strcmp(name, "Empty") == 0) {
        /* 2.7 only has Queue.Empty, 3.6 only queue.Empty. */
        *out_module = protocol == 2 ? "Queue" : "queue";
        return;
    }
    if (protocol != 2)
        return;
    if (strcmp(module, "builtins") == 0) {
        if (in_list(name, py2_exceptions, COUNT(py2_exceptions))) {
            *out_module = "exceptions";
            return;
        }
        if (in_list(name, py3_oserrors, COUNT(py3_oserrors))) {
            *out_module = "exceptions";
            *out_name = "OSError";
            return;
        }
        if (strcmp(name, "ModuleNotFoundError") == 0) {
            *out_module = "exceptions";
            *out_name = "ImportError";
            return;
        }
    }
    for (size_t i = 0; i < NNAMES; i++) {
        if (strcmp(module, names[i].mod3) == 0 && strcmp(name, names[i].name3) == 0) {
            *out_module = names[i].mod2;
            *out_name = names[i].name2;
            return;
        }
    }
    for (size_t i = 0; i < NMODULES; i++) {
        /* "exceptions" is reached through the exception list above. */
        if (strcmp(modules[i].py2, "exceptions") != 0 &&
            strcmp(module, modules[i].py3) == 0) {
            *out_module = modules[i].py2;
            return;
        }
    }
}
