"""tally - the one counter of passed and failed checks of the Python test
drivers (Python 3): failures printed as they come, 'N passed, M failed'
last, which the shell wrappers and make check read."""
import sys
import threading


class Tally(object):
    """Counts passed and failed checks; prints each failure as it comes
    ('PREFIXFAIL: name', the detail indented below)."""

    def __init__(self, prefix='', out=None):
        self.passed = 0
        self.failed = 0
        self.failures = []
        self.out = out
        self.prefix = prefix
        self.lock = threading.Lock()

    def ok(self, name, cond, detail=''):
        detail = detail if isinstance(detail, str) else repr(detail)
        with self.lock:
            if cond:
                self.passed += 1
            else:
                self.failed += 1
                self.failures.append(name)
                out = self.out or sys.stdout
                out.write('%sFAIL: %s%s\n' % (self.prefix, name,
                                              ('\n    ' + detail.replace('\n', '\n    ')) if detail else ''))
                out.flush()
        return bool(cond)

    def eq(self, name, got, want):
        return self.ok(name, got == want, 'got  %r\nwant %r' % (got, want))

    def summary(self):
        return '%d passed, %d failed' % (self.passed, self.failed)

    def finish(self):
        """Print the summary; the exit status: 0 only when something
        passed and nothing failed."""
        out = self.out or sys.stdout
        out.write(self.summary() + '\n')
        out.flush()
        return 0 if self.failed == 0 and self.passed > 0 else 1

