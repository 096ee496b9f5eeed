"""userclasses.py - the client-side classes of scen_stdvalues.py, in a
module of their own so that CPython's reference server (tests/lib/refserver.py,
run with this folder on its path) can unpickle them too; managerd keeps them as data."""


class Point(object):
    """An instance with a dict state."""

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Slotted(object):
    """An instance with a __slots__ state."""
    __slots__ = ('a', 'b')

    def __init__(self, a, b=None):
        self.a = a
        if b is not None:
            self.b = b
