/* pickle_int.h - private helpers shared by the pickle decoder and encoder:
 * the Python 2 <-> Python 3 global name tables (Lib/_compat_pickle.py)
 * and the list of exception classes managerd turns into real exceptions.
 * Not part of the codec's public interface.
 */
#ifndef MD_PICKLE_INT_H
#define MD_PICKLE_INT_H

#include <stdbool.h>

/* Map a global read from the wire to its Python 3 spelling. Python 2
 * names (__builtin__, exceptions, copy_reg, Queue, thread, ...) are
 * mapped at every protocol because Python 3 cannot import them anyway;
 * the rest of _compat_pickle's tables apply below protocol 3, as Python
 * does. The outputs point either to the inputs or to static strings. */
void md_pickle__py3_name(const char *module, const char *name, int protocol,
                         const char **out_module, const char **out_name);

/* If module.name (Python 3 spelling) is an exception class managerd
 * keeps as an exception value, set the canonical class (e.g. queue.Empty
 * -> _queue.Empty, builtins.IOError -> builtins.OSError) and return true. */
bool md_pickle__exc_class(const char *module, const char *name,
                          const char **out_module, const char **out_name);

/* The name to write for a global at protocol 2..5: Python 2 names at
 * protocol 2 (_compat_pickle's reverse tables, plus _queue -> Queue),
 * queue.Empty at protocol 3 (3.6 has no _queue), Python 3 names above. */
void md_pickle__wire_name(const char *module, const char *name, int protocol,
                          const char **out_module, const char **out_name);

/* Tests only: false makes the decoder run each opcode of its runs
 * (load_flat in pickle_dec.c) through the handler that checks
 * everything, the reference the runs must match; true (the start) is
 * the normal decoder. Not thread safe. */
void md_pickle__set_runs(bool on);

#endif /* MD_PICKLE_INT_H */
