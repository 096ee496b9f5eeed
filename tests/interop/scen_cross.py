"""Old and new Pythons on one server at the same time: every interpreter
writes the same portable values into one shared dict and one shared queue
(--share get_xdict=dict --share get_xq=Queue), then every interpreter
reads what all the others wrote and compares it with its own copy.

--tag T --role write|read|drain [--tags T1,T2,...]. Runs under every Python from
2.7 to 3.13. Values are ones that mean the same in Python 2 and 3 (text
as unicode; no byte strings, which Python 2 cannot tell from text).
"""
from __future__ import print_function

import sys

import clientlib as cl
from clientlib import PY2
from multiprocessing import managers
from multiprocessing.managers import BaseManager

if PY2:
    text_type = unicode                          # noqa: F821
    long_type = long                             # noqa: F821
else:
    text_type = str
    long_type = int


class XManager(BaseManager):
    pass


XManager.register('get_xdict', proxytype=managers.DictProxy)
XManager.register('get_xq')


def portable():
    return {
        u'none': None, u'bools': (True, False), u'small': [0, 1, -1, 255, 256, 65535, 65536],
        u'i32': [2 ** 31 - 1, -2 ** 31, 2 ** 31, -2 ** 31 - 1],
        u'i64': [2 ** 63 - 1, -2 ** 63, 2 ** 63, 2 ** 64],
        u'big': [2 ** 100, -(3 ** 90)],
        u'floats': [0.5, -0.0, 1e-300, 1e300, float('inf'), -float('inf')],
        u'text': [u'', u'ascii', u'caf\u00e9', u'\u4e2d\u6587', u'\U0001f600', u'a\x00b', u'\r\n\t'],
        u'nested': {u'list': [1, [2, [3, (4, 5)]]], u'tuple': (1, (2,), ()), u'dict': {u'k': {1: 2}}},
        u'sets': [set([1, 2, 3]), frozenset([u'x']), set()],
        u'long-text': u'x' * 70000,
        u'many': list(range(3000)),
    }


def norm(x):
    """Python 2 ints and longs are one kind of number; so are str and
    unicode holding ASCII."""
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, (int, long_type)):
        return ('int', int(x))
    if isinstance(x, float):
        return ('float', repr(x))
    if PY2 and isinstance(x, str):
        return x.decode('ascii')
    if isinstance(x, dict):
        return dict((norm(k), norm(v)) for k, v in x.items())
    if isinstance(x, list):
        return [norm(i) for i in x]
    if isinstance(x, tuple):
        return tuple(norm(i) for i in x)
    if isinstance(x, frozenset):
        return frozenset(norm(i) for i in x)
    if isinstance(x, set):
        return ('set', frozenset(norm(i) for i in x))
    return x


def main(R, a):
    opts = a.opts
    role = opts['--role']
    tag = opts['--tag']
    m = cl.connect(a, XManager)
    xd = m.get_xdict()
    xq = m.get_xq()
    if role == 'write':
        xd[tag] = portable()
        xq.put((tag, portable()))
        R.check(tag + ': wrote', tag in xd)
        return
    if role == 'drain':
        want = set(opts['--tags'].split(','))
        seen = set()
        mine = norm(portable())
        for _ in range(len(want)):
            ok, item = R.step('drain', lambda: xq.get(True, 10 * a.slow))
            if not ok:
                R.check('drain: an item for every writer', False, cl.exc_text(item))
                break
            seen.add(item[0])
            R.check('drain: values from ' + item[0], norm(item[1]) == mine)
        R.check('drain: one item from each writer', seen == want, sorted(want - seen))
        R.check('drain: queue empty afterwards', xq.empty())
        return
    mine = norm(portable())
    for other in opts['--tags'].split(','):
        ok, v = R.step('read ' + other, lambda: xd[other])
        if not ok:
            R.check('%s reads %s' % (tag, other), False, cl.exc_text(v))
            continue
        got = norm(v)
        bad = sorted(k for k in mine if got.get(k) != mine[k])
        R.check('%s reads %s' % (tag, other), not bad,
                'differs in %s: %s' % (bad, [(k, cl.canon(v.get(k))[:200]) for k in bad]))
        # text comes back as text on both sides
        R.check('%s reads %s: text type' % (tag, other),
                all(type(s) is text_type for s in v[u'text']), [type(s).__name__ for s in v[u'text']])


if __name__ == '__main__':
    cl.run_main(main)
