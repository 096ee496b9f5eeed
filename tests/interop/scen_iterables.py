"""Scenario 6: lazy iterables as arguments, sort(key=) with builtin keys,
and keyword arguments to methods that take none (issue 7, points 1, 7, 8).

range, zip, enumerate, reversed, iter() at a position, map and filter over
builtins, deque, Counter and defaultdict wherever an iterable is accepted
(create, extend, +=, slice assignment, update, Array); list.sort with len,
abs, str, int, float, str.lower/upper/casefold, operator.itemgetter and
attrgetter, reverse=True; d.pop('k', default=1) and friends. Runs under
every Python from 2.7 to 3.13 against managerd and against CPython's own
server of the same interpreter; run.py compares the recorded steps. Steps
marked compare=False are managerd's documented refusals (a function the
server would have to run).
"""
from __future__ import print_function

import collections
import operator
import sys

import clientlib as cl
from clientlib import PY2, PYV

if PY2:
    lazy_range = xrange        # noqa: F821 (2.7's lazy range pickles as one)
else:
    lazy_range = range


class Point(object):
    """A user class the servers never import: attrgetter reads its state."""

    def __init__(self, x, y, tag=None):
        self.x = x
        self.y = y
        self.tag = tag

    def __repr__(self):
        return 'Point(%r, %r)' % (self.x, self.y)

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = None


def shout(s):
    """A client function: no server may be asked to run it."""
    return s.upper()


def advanced(it, n):
    for _ in range(n):
        next(it)
    return it


def create_steps(R, m):
    R.expect('list.range', lambda: m.list(lazy_range(10))._getvalue(), list(range(10)))
    R.expect('list.range-step', lambda: m.list(lazy_range(1, 10, 3))._getvalue(), [1, 4, 7])
    R.expect('list.range-negative', lambda: m.list(lazy_range(5, 0, -2))._getvalue(), [5, 3, 1])
    R.expect('list.range-empty', lambda: m.list(lazy_range(3, 3))._getvalue(), [])
    R.expect('dict.zip', lambda: m.dict(zip(['a', 'b', 'c'], [1, 2]))._getvalue(), {'a': 1, 'b': 2})
    R.expect('Array.range', lambda: list(m.Array('i', lazy_range(10))), list(range(10)))
    if PY2:
        return       # 2.7 cannot pickle its iterators, enumerate, imap or reversed
    R.expect('dict.enumerate', lambda: m.dict(enumerate('ab'))._getvalue(), {0: 'a', 1: 'b'})
    R.expect('dict.enumerate-start', lambda: m.dict(enumerate('ab', 5))._getvalue(), {5: 'a', 6: 'b'})
    R.expect('list.reversed-list', lambda: m.list(reversed([1, 2]))._getvalue(), [2, 1])
    R.expect('list.reversed-tuple', lambda: m.list(reversed((1, 2, 3)))._getvalue(), [3, 2, 1])
    R.expect('list.reversed-str', lambda: m.list(reversed('abc'))._getvalue(), ['c', 'b', 'a'])
    R.expect('list.reversed-range', lambda: m.list(reversed(range(4)))._getvalue(), [3, 2, 1, 0])
    R.expect('list.reversed-advanced', lambda: m.list(advanced(reversed([1, 2, 3]), 1))._getvalue(),
             [2, 1])
    R.expect('list.reversed-exhausted', lambda: m.list(advanced(reversed([1, 2]), 2))._getvalue(), [])
    R.expect('list.map-str', lambda: m.list(map(str, range(3)))._getvalue(), ['0', '1', '2'])
    R.expect('list.map-int', lambda: m.list(map(int, ['1', ' 2 ', '3_0', '-4']))._getvalue(), [1, 2, 30, -4])
    R.expect('list.map-float', lambda: m.list(map(float, ['1.5', ' -2', '1e3', 7]))._getvalue(),
             [1.5, -2.0, 1000.0, 7.0])
    R.step('list.map-float-special', lambda: m.list(map(float, ['inf', '-Infinity', 'nan']))._getvalue())
    R.expect('list.map-abs', lambda: m.list(map(abs, [-1, 2.5, -2 ** 70]))._getvalue(), [1, 2.5, 2 ** 70])
    R.expect('list.map-len', lambda: m.list(map(len, ['a', 'bb', (1, 2, 3), {}]))._getvalue(), [1, 2, 3, 0])
    R.expect('list.map-repr', lambda: m.list(map(repr, ['a', 1, None]))._getvalue(), ["'a'", '1', 'None'])
    R.expect('list.map-lower', lambda: m.list(map(str.lower, ['AbC', 'X']))._getvalue(), ['abc', 'x'])
    R.expect('list.map-itemgetter', lambda: m.list(map(operator.itemgetter(0), ['ab', (5, 6)]))._getvalue(),
             ['a', 5])
    R.expect('list.map-nested', lambda: m.list(map(str, zip(range(2), 'xy')))._getvalue(),
             ["(0, 'x')", "(1, 'y')"])
    R.expect('list.filter-none', lambda: m.list(filter(None, [0, 1, '', 'a', None, [], [0]]))._getvalue(),
             [1, 'a', [0]])
    R.expect('list.filter-bool', lambda: m.list(filter(bool, range(3)))._getvalue(), [1, 2])
    R.expect('list.filter-containers', lambda: len(m.list(filter(None, [
        range(0), range(2), collections.deque(), collections.deque([0]), collections.Counter(),
        collections.OrderedDict(a=1), zip(), map(str, [])]))), 5)
    R.expect('list.filter-len', lambda: m.list(filter(len, ['', 'x', ()]))._getvalue(), ['x'])
    R.expect('list.zip-three', lambda: m.list(zip(range(3), 'ab', [True, False, None]))._getvalue(),
             [(0, 'a', True), (1, 'b', False)])
    R.expect('list.zip-empty', lambda: m.list(zip())._getvalue(), [])
    R.expect('list.zip-huge', lambda: m.list(zip(range(10 ** 12), 'ab'))._getvalue(), [(0, 'a'), (1, 'b')])
    R.expect('list.enumerate-zip', lambda: m.list(enumerate(zip('ab', 'cd')))._getvalue(),
             [(0, ('a', 'c')), (1, ('b', 'd'))])
    # iterators at a position (__setstate__)
    R.expect('list.iter-list', lambda: m.list(advanced(iter([1, 2, 3]), 1))._getvalue(), [2, 3])
    R.expect('list.iter-list-done', lambda: m.list(advanced(iter([1, 2]), 2))._getvalue(), [])
    R.expect('list.iter-tuple', lambda: m.list(advanced(iter((1, 2, 3)), 2))._getvalue(), [3])
    R.expect('list.iter-str', lambda: m.list(advanced(iter(u'h\u00e9llo'), 1))._getvalue(),
             [u'\u00e9', 'l', 'l', 'o'])
    R.expect('list.iter-bytes', lambda: m.list(advanced(iter(b'abc'), 1))._getvalue(), [98, 99])
    R.expect('list.iter-range', lambda: m.list(advanced(iter(range(2, 12, 2)), 2))._getvalue(), [6, 8, 10])
    R.expect('list.iter-dict', lambda: m.list(advanced(iter({'a': 1, 'b': 2}), 1))._getvalue(), ['b'])
    R.expect('list.iter-values', lambda: m.list(iter({'a': 1, 'b': 2}.values()))._getvalue(), [1, 2])
    R.expect('list.iter-items', lambda: m.list(iter({'a': 1}.items()))._getvalue(), [('a', 1)])
    R.expect('list.iter-set', lambda: sorted(m.list(iter({3, 1, 2}))._getvalue()), [1, 2, 3])
    R.expect('list.zip-iters', lambda: m.dict(zip(advanced(iter('abc'), 1), iter(range(9))))._getvalue(),
             {'b': 0, 'c': 1})
    R.expect('list.map-advanced', lambda: m.list(advanced(map(str, range(4)), 2))._getvalue(), ['2', '3'])
    # helper objects of collections
    R.expect('list.deque', lambda: m.list(collections.deque([1, 2, 3]))._getvalue(), [1, 2, 3])
    R.expect('list.iter-deque', lambda: m.list(advanced(iter(collections.deque([1, 2, 3])), 1))._getvalue(),
             [2, 3])
    # 3.12+ cannot pickle a deque's reverse iterator: the same client error on both sides
    R.step('list.reversed-deque', lambda: m.list(advanced(reversed(collections.deque([1, 2, 3])), 1))._getvalue())
    R.expect('list.deque-maxlen', lambda: m.list(collections.deque(range(5), 2))._getvalue(), [3, 4])
    R.expect('dict.Counter', lambda: m.dict(collections.Counter('abca'))._getvalue(), {'a': 2, 'b': 1, 'c': 1})
    R.expect('list.Counter', lambda: m.list(collections.Counter('abca'))._getvalue(), ['a', 'b', 'c'])
    R.expect('dict.defaultdict', lambda: m.dict(collections.defaultdict(int, {'x': 1}))._getvalue(), {'x': 1})
    R.expect('list.OrderedDict', lambda: m.list(collections.OrderedDict([('p', 1), ('q', 2)]))._getvalue(),
             ['p', 'q'])
    R.expect('Array.map', lambda: list(m.Array('d', map(float, range(3)))), [0.0, 1.0, 2.0])

    def array_setslice(value):
        arr = m.Array('i', [0, 1, 2])
        arr[0:2] = value
        return list(arr)
    R.step('Array.setslice-range', lambda: array_setslice(range(5, 7)))
    R.step('Array.setslice-list', lambda: array_setslice([5, 6]))
    if PYV >= (3, 10):
        R.expect('list.zip-strict-equal', lambda: m.list(zip('ab', 'cd', strict=True))._getvalue(),
                 [('a', 'c'), ('b', 'd')])


def method_steps(R, m):
    l = m.list([0, 1, 2])
    R.expect('extend.range', lambda: (l.extend(lazy_range(3, 5)), l._getvalue())[1], [0, 1, 2, 3, 4])

    def iadd():
        ll = m.list([9])
        ll += lazy_range(2)
        return ll._getvalue()
    R.expect('iadd.range', iadd, [9, 0, 1])

    def setslice(value, where=slice(0, 2)):
        ll = m.list([0, 1, 2, 3])
        ll[where] = value
        return ll._getvalue()
    R.expect('setslice.range', lambda: setslice(lazy_range(7, 9)), [7, 8, 2, 3])
    R.expect('setslice.range-longer', lambda: setslice(lazy_range(5)), [0, 1, 2, 3, 4, 2, 3])
    R.expect('setslice.extended', lambda: setslice(lazy_range(2), slice(None, None, 2)), [0, 1, 1, 3])
    R.expect_exc('setslice.extended-size', lambda: setslice(lazy_range(3), slice(None, None, 2)), ValueError,
                 'attempt to assign sequence of size 3 to extended slice of size 2')
    d = m.dict()
    R.expect('update.zip', lambda: (d.update(zip('ab', range(2))), d._getvalue())[1], {'a': 0, 'b': 1})
    R.expect_exc('update.range-not-pairs', lambda: d.update(lazy_range(2)), TypeError,
                 'cannot convert dictionary update sequence element #0 to a sequence')
    R.expect('update.unchanged', lambda: d._getvalue(), {'a': 0, 'b': 1})
    R.expect_exc('extend.int', lambda: l.extend(5), TypeError, "'int' object is not iterable")
    if PY2:
        return
    R.expect('update.enumerate', lambda: (d.update(enumerate('x', 10)), d._getvalue())[1],
             {'a': 0, 'b': 1, 10: 'x'})
    R.expect('extend.map', lambda: (l.extend(map(str, range(2))), l._getvalue())[1], [0, 1, 2, 3, 4, '0', '1'])
    R.expect('setslice.map', lambda: setslice(map(str, range(2))), ['0', '1', 2, 3])
    R.expect('update.Counter', lambda: (d.update(collections.Counter('aa')), d._getvalue())[1],
             {'a': 2, 'b': 1, 10: 'x'})
    R.expect_exc('extend.map-int-error', lambda: l.extend(map(int, ['1', 'x'])), ValueError,
                 "invalid literal for int() with base 10: 'x'")
    R.expect_exc('extend.map-float-error', lambda: l.extend(map(float, ['1', 'x1'])), ValueError,
                 "could not convert string to float: 'x1'")
    R.expect_exc('extend.map-itemgetter-missing', lambda: l.extend(map(operator.itemgetter('k'), [{}])),
                 KeyError, "'k'")
    R.expect_exc('extend.map-len-error', lambda: l.extend(map(len, [5])), TypeError,
                 "object of type 'int' has no len()")
    # 3.6 and 3.7 word it 'requires a 'str' object but received a 'int''
    old = PYV < (3, 8)
    R.expect_exc('extend.map-lower-error', lambda: l.extend(map(str.lower, [5])), TypeError,
                 "descriptor 'lower' for 'str' objects doesn't apply to a 'int' object",
                 only='managerd' if old else None, compare=not old)
    # CPython's list.extend keeps the items before the failing one;
    # managerd changes nothing when a request fails (README)
    R.expect('extend.unchanged', lambda: l._getvalue(), [0, 1, 2, 3, 4, '0', '1'], compare=False,
             only='managerd')
    if PYV >= (3, 10):
        R.expect_exc('extend.zip-strict-short', lambda: l.extend(zip('ab', 'c', strict=True)), ValueError,
                     'zip() argument 2 is shorter than argument 1')
        R.expect_exc('extend.zip-strict-long', lambda: l.extend(zip('a', 'cd', 'ef', strict=True)),
                     ValueError, 'zip() argument 2 is longer than argument 1')
        R.expect('extend.zip-strict-unchanged', lambda: len(l), 7, compare=False, only='managerd')
    # managerd refuses what it would have to run; CPython's server runs it
    if R.server == 'managerd':
        R.expect_exc('extend.map-client-function', lambda: l.extend(map(shout, ['a'])), TypeError,
                     compare=False)
        R.expect_exc('extend.map-pow', lambda: l.extend(map(pow, [2], [3])), TypeError, compare=False)
        R.expect_exc('extend.range-too-long', lambda: l.extend(range(10 ** 12)), MemoryError,
                     compare=False)
        R.expect('extend.refused-unchanged', lambda: len(l), 7, compare=False)


def sort_steps(R, m):
    def sorted_by(items, **kw):
        l = m.list(items)
        l.sort(**kw)
        return l._getvalue()
    words = ['banana', 'Apple', 'cherry', 'apple', 'Banana']
    R.expect('sort.plain', lambda: sorted_by(words), sorted(words))
    R.expect('sort.len', lambda: sorted_by(words, key=len), sorted(words, key=len))
    R.expect('sort.len-reverse', lambda: sorted_by(words, key=len, reverse=True),
             sorted(words, key=len, reverse=True))
    R.expect('sort.abs', lambda: sorted_by([3, -1, -3, 2, 1.5], key=abs), sorted([3, -1, -3, 2, 1.5], key=abs))
    R.expect('sort.str', lambda: sorted_by([10, 9, 100, 1], key=str), sorted([10, 9, 100, 1], key=str))
    R.expect('sort.int', lambda: sorted_by(['10', '9', '-1'], key=int), sorted(['10', '9', '-1'], key=int))
    R.expect('sort.float', lambda: sorted_by(['1.5', '-2', '1e1'], key=float),
             sorted(['1.5', '-2', '1e1'], key=float))
    R.expect('sort.none-key', lambda: sorted_by([2, 1], key=None), [1, 2])
    R.expect_exc('sort.len-error', lambda: sorted_by(['a', 1], key=len), TypeError,
                 "object of type 'int' has no len()")
    if PY2:
        return      # 2.7 cannot pickle str.lower, itemgetter or attrgetter
    R.expect('sort.itemgetter', lambda: sorted_by([(1, 'b'), (2, 'a'), (0, 'b')], key=operator.itemgetter(1)),
             [(2, 'a'), (1, 'b'), (0, 'b')])
    R.expect('sort.itemgetter-two', lambda: sorted_by([(1, 'b', 0), (2, 'a', 1), (0, 'b', 2)],
                                                      key=operator.itemgetter(1, 0)),
             [(2, 'a', 1), (0, 'b', 2), (1, 'b', 0)])
    R.expect('sort.itemgetter-dict', lambda: sorted_by([{'n': 2}, {'n': 1}], key=operator.itemgetter('n')),
             [{'n': 1}, {'n': 2}])
    R.expect_exc('sort.itemgetter-missing', lambda: sorted_by([{'n': 2}, {}], key=operator.itemgetter('n')),
                 KeyError)
    R.expect('sort.lower', lambda: sorted_by(words, key=str.lower), sorted(words, key=str.lower))
    R.expect('sort.upper-reverse', lambda: sorted_by(words, key=str.upper, reverse=True),
             sorted(words, key=str.upper, reverse=True))
    R.expect('sort.casefold', lambda: sorted_by([u'Stra\u00dfe', u'strasse', u'\u00c9t\u00e9', u'zoo'],
                                                key=str.casefold),
             sorted([u'Stra\u00dfe', u'strasse', u'\u00c9t\u00e9', u'zoo'], key=str.casefold))
    me = sys.modules.get('scen_iterables') or __import__('scen_iterables')
    pts = [me.Point(2, 1, 'b'), me.Point(1, 2, 'a'), me.Point(1, 0, 'c')]
    R.expect('sort.attrgetter', lambda: sorted_by(pts, key=operator.attrgetter('x')),
             sorted(pts, key=operator.attrgetter('x')))
    R.expect('sort.attrgetter-two', lambda: sorted_by(pts, key=operator.attrgetter('x', 'y'), reverse=True),
             sorted(pts, key=operator.attrgetter('x', 'y'), reverse=True))
    nested = [me.Point(me.Point(3, 0), 0), me.Point(me.Point(1, 0), 1)]
    R.expect('sort.attrgetter-dotted', lambda: sorted_by(nested, key=operator.attrgetter('x.x')),
             sorted(nested, key=operator.attrgetter('x.x')))
    R.expect_exc('sort.attrgetter-missing', lambda: sorted_by(pts, key=operator.attrgetter('z')),
                 AttributeError, "'Point' object has no attribute 'z'")
    l = m.list([3, 1, 2])
    if R.server == 'managerd':
        R.expect_exc('sort.client-function', lambda: l.sort(key=shout), TypeError, compare=False)
        R.expect_exc('sort.pow', lambda: l.sort(key=pow), TypeError, compare=False)
        R.expect('sort.refused-unchanged', lambda: l._getvalue(), [3, 1, 2], compare=False)


def keyword_steps(R, m):
    """Each case with CPython 3.13's text, which managerd gives every
    client (older servers say 'pop() takes no keyword arguments')."""
    d = m.dict({'a': 1})
    l = m.list([1, 2])
    arr = m.Array('i', [1, 2])
    cases = [
        ('kw.dict-pop', lambda: d.pop('k', default=1), 'dict.pop()'),
        ('kw.dict-setdefault', lambda: d.setdefault('k', default=1), 'dict.setdefault()'),
        ('kw.dict-get', lambda: d.get('k', default=1), 'dict.get()'),
        ('kw.dict-pop-only-kw', lambda: d.pop(key='a'), 'dict.pop()'),
        ('kw.list-pop', lambda: l.pop(index=0), 'list.pop()'),
        ('kw.list-append', lambda: l.append(x=1), 'list.append()'),
        ('kw.list-insert', lambda: l.insert(0, object=5), 'list.insert()'),
        ('kw.list-index', lambda: l.index(1, start=0), 'list.index()'),
        ('kw.list-count', lambda: l.count(value=1), 'list.count()'),
        ('kw.list-remove', lambda: l.remove(value=1), 'list.remove()'),
        ('kw.list-extend', lambda: l.extend(iterable=[1]), 'list.extend()'),
        ('kw.dict-getitem', lambda: d._callmethod('__getitem__', ('a',), {'x': 1}), 'dict.__getitem__()'),
        ('kw.dict-setitem', lambda: d._callmethod('__setitem__', ('a', 2), {'x': 1}), 'wrapper __setitem__()'),
        ('kw.dict-len', lambda: d._callmethod('__len__', (), {'x': 1}), 'wrapper __len__()'),
        ('kw.list-contains', lambda: l._callmethod('__contains__', (1,), {'x': 1}), 'wrapper __contains__()'),
        ('kw.list-getitem', lambda: l._callmethod('__getitem__', (0,), {'x': 1}), 'list.__getitem__()'),
        ('kw.dict-clear', lambda: d.clear(x=1), 'dict.clear()'),
        ('kw.array-len', lambda: arr._callmethod('__len__', (), {'x': 1}), 'wrapper __len__()'),
        ('kw.array-getitem', lambda: arr._callmethod('__getitem__', (0,), {'x': 1}), 'wrapper __getitem__()'),
    ]
    if not PY2:
        cases.append(('kw.list-reversed', lambda: l._callmethod('__reversed__', (), {'x': 1}),
                      'list.__reversed__()'))
    new = PYV >= (3, 13)
    for name, fn, who in cases:
        R.expect_exc(name, fn, TypeError, who + ' takes no keyword arguments',
                     only=None if new else 'managerd', compare=new)
    R.expect_exc('kw.list-sort-unknown', lambda: l.sort(cmp=None), TypeError,
                 "sort() got an unexpected keyword argument 'cmp'", only=None if new else 'managerd',
                 compare=new)
    R.expect('kw.dict-empty-kwargs', lambda: d._callmethod('get', ('a',), {}), 1)
    R.expect('kw.dict-unchanged', lambda: d._getvalue(), {'a': 1})
    R.expect('kw.list-unchanged', lambda: l._getvalue(), [1, 2])
    R.expect('kw.dict-update-kw', lambda: (d.update(b=2), d._getvalue())[1], {'a': 1, 'b': 2})


def main(R, a):
    m = cl.connect(a)
    for name, fn in (('create', create_steps), ('methods', method_steps), ('sort', sort_steps),
                     ('keywords', keyword_steps)):
        R.guard(name, fn, R, m)


if __name__ == '__main__':
    cl.run_main(main)
