"""Scenario 7: standard-library values and the client's own instances
stored in shared lists and dicts behave as in CPython's server: their str,
`in`, index, count, remove, sort, dict lookups across numeric types
(2 == Decimal(2) == Fraction(2) == 2.0), dates and aware datetimes as keys,
and the TypeErrors of ordering what Python cannot order. Runs under every
Python from 2.7 (with the types it has) to 3.13, against managerd and
CPython's own server of the same interpreter.

Differences on purpose (README): reprs and messages are 3.13's for every
client (those steps are compared from 3.12 or 3.13 only); Python 2.7's
own server orders and hashes Decimal and Fraction inconsistently with
int and float, where managerd follows Python 3 (compared from 3.x only,
checked on managerd for 2.7); and instances compare by their state where
CPython's server compares them by identity (steps marked compare=False,
checked on managerd only).
"""
from __future__ import print_function

import array
import collections
import datetime
import decimal
import fractions
import uuid

import clientlib as cl
from clientlib import PY2, PYV
from userclasses import Point, Slotted

D = decimal.Decimal
F = fractions.Fraction
NEW_REPR = PYV >= (3, 12)     # the reprs managerd writes (3.13's)
PY3 = not PY2                 # Python 3 numeric semantics


def values():
    v = [datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1, 12, 30),
         datetime.time(9, 5, 0, 7), datetime.timedelta(1, 3600, 5),
         D('1.10'), D('-0E-8'), D('1E+100'), F(1, 2), F(-3, 4),
         uuid.UUID(int=0x1234567812345678), collections.OrderedDict([('b', 1), ('a', [2])]),
         collections.deque([1, 2], 3), collections.Counter('abbccc'),
         collections.defaultdict(list, {'k': [1]}), array.array('i', [1, 2]), slice(1, 2)]
    if not PY2:
        utc = datetime.timezone.utc
        cet = datetime.timezone(datetime.timedelta(hours=1), 'CET')
        v += [utc, cet, datetime.datetime(2024, 1, 1, tzinfo=utc),
              datetime.datetime(2024, 1, 1, 1, tzinfo=cet), range(0, 10, 2)]
    return v


def numbers(R, m):
    l = m.list([0.5, D('1.10'), 2, F(7, 3), D('NaN')])
    R.expect('in: Fraction(1, 2) in [0.5]', lambda: F(1, 2) in l, True)
    R.expect('in: Decimal(1.1)', lambda: D('1.1') in l, True)
    R.expect('in: 1.1 (float) is not Decimal 1.1', lambda: 1.1 in l, False)
    R.expect('index: Fraction(2)', lambda: l.index(F(2)), 2)
    R.expect('index: 2.0', lambda: l.index(2.0), 2)
    R.expect('count: Decimal(2)', lambda: l.count(D(2)), 1)
    R.expect('in: Decimal NaN is not itself', lambda: D('NaN') in m.list([D('NaN')]), False)
    l.remove(D('0.50'))
    R.step('remove: Decimal(0.50) removes 0.5', lambda: l[:])
    s = m.list([3, D('2.5'), F(1, 3), 1.5, -1, D('-Infinity'), F(5, 2)])
    s.sort()
    R.step('sort: int, float, Decimal, Fraction', lambda: s[:], compare=NEW_REPR)
    R.expect('sort: order', lambda: [float(x) for x in s[:]],
             [float('-inf'), -1.0, 1 / 3.0, 1.5, 2.5, 2.5, 3.0], only=None if PY3 else 'managerd',
             compare=PY3)
    bad = m.list([D('NaN'), D(1)])
    R.step('sort: Decimal NaN', lambda: bad.sort(), compare=PY3)
    d = m.dict()
    d[D(2)] = 'two'
    R.expect('dict: d[2] finds Decimal(2)', lambda: d[2], 'two')
    R.expect('dict: d[Fraction(4, 2)]', lambda: d[F(4, 2)], 'two',
             only=None if PY3 else 'managerd', compare=PY3)
    R.expect('dict: d[2.0]', lambda: d.get(2.0), 'two')
    d[F(1, 2)] = 'half'
    R.expect('dict: d[0.5] finds Fraction(1, 2)', lambda: d[0.5], 'half')
    R.expect('dict: d[Decimal(0.5)]', lambda: d[D('0.5')], 'half',
             only=None if PY3 else 'managerd', compare=PY3)
    R.expect('dict: len after same-valued keys', lambda: (d.update({2.0: 'float'}), len(d))[1], 2)
    R.step('dict: items', lambda: sorted(d.items(), key=lambda kv: float(kv[0])), compare=NEW_REPR)


def times(R, m):
    l = m.list([datetime.date(2024, 3, 1), datetime.date(2023, 1, 31), datetime.date(2024, 1, 1)])
    l.sort()
    R.step('dates: sorted', lambda: l[:])
    R.expect('dates: index', lambda: l.index(datetime.date(2024, 1, 1)), 1)
    R.step('dates: str of list', lambda: str(l))
    d = m.dict({datetime.date(2024, 1, 1): 'new year', datetime.timedelta(1): 'a day'})
    R.expect('dates: key', lambda: d[datetime.date(2024, 1, 1)], 'new year')
    R.expect('timedelta: key 86400 seconds', lambda: d[datetime.timedelta(0, 86400)], 'a day')
    R.step('timedelta: str', lambda: str(m.list([datetime.timedelta(-1, 5, 1)])),
           compare=PYV >= (3, 7))
    mixed = m.list([datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1)])
    R.expect('date == datetime is False', lambda: mixed.count(datetime.date(2024, 1, 1)), 1)
    R.step('date < datetime: TypeError', lambda: mixed.sort(), compare=PYV >= (3, 13))
    if PY2:
        return
    utc = datetime.timezone.utc
    cet = datetime.timezone(datetime.timedelta(hours=1), 'CET')
    aware = m.dict({datetime.datetime(2024, 1, 1, tzinfo=utc): 'midnight UTC'})
    R.expect('aware: same instant in CET', lambda: aware[datetime.datetime(2024, 1, 1, 1, tzinfo=cet)],
             'midnight UTC')
    R.expect('aware: naive is another key', lambda: aware.get(datetime.datetime(2024, 1, 1)), None)
    nv = m.list([datetime.datetime(2024, 1, 1), datetime.datetime(2024, 1, 1, tzinfo=utc)])
    R.step('naive < aware: TypeError', lambda: nv.sort())
    R.expect('naive == aware is False', lambda: nv.count(datetime.datetime(2024, 1, 1)), 1)
    R.step('aware: str', lambda: str(m.list([datetime.datetime(2024, 1, 1, 5, tzinfo=cet), cet, utc])),
           compare=PYV >= (3, 7))   # 3.6 writes timedelta(0, 3600)
    R.step('time: aware str', lambda: str(m.list([datetime.time(1, 2, 3, 4, tzinfo=cet)])),
           compare=PYV >= (3, 7))


def containers(R, m):
    l = m.list(values())
    R.step('str of a list of everything', lambda: str(l), compare=NEW_REPR)
    R.expect('len', lambda: len(l), len(values()))
    vals = values()
    for v in vals:
        # (the first equal one: 1:00 CET is midnight UTC)
        R.expect('index of %s' % type(v).__name__, lambda: l.index(v), vals.index(v))
    R.expect('OrderedDict == dict in a list', lambda: {'b': 1, 'a': [2]} in l, True)
    R.expect('OrderedDict order matters between OrderedDicts',
             lambda: collections.OrderedDict([('a', [2]), ('b', 1)]) in l, False)
    R.expect('deque is not a list', lambda: [1, 2] in l, False)
    R.step('deque < deque', lambda: m.list([collections.deque([1, 3]), collections.deque([1, 2])]).sort())
    R.step('unhashable key: deque', lambda: m.dict().update({1: 1}) or m.dict()[collections.deque()])
    R.step('Counter most_common order in str', lambda: str(m.list([collections.Counter('abbccc')])),
           compare=NEW_REPR)


def instances(R, m, server):
    p, q = Point(1, 2), Point(1, 3)
    sets = m.list([set([p, q]), frozenset([Slotted(1)]), {p: 'p'}])
    R.expect('instances in a set, frozenset, dict key', lambda: len(sets), 3)
    R.expect('set of instances keeps both', lambda: len(sets[0]), 2)
    R.step('str shows the default repr', lambda: str(m.list([p])).startswith('[<userclasses.Point object at 0x'))
    l = m.list([p, Slotted(1, [2])])
    # CPython's server compares instances by identity (False here);
    # managerd by class and state (True): a documented difference.
    ok, r = R.step('in: an equal instance', lambda: Point(1, 2) in l, compare=False)
    R.check('in: an equal instance (structural)', ok and r is True, repr(r), only='managerd')
    ok, r = R.step('index: Slotted', lambda: l.index(Slotted(1, [2])), compare=False)
    R.check('index: Slotted (structural)', ok and r == 1, repr(r), only='managerd')
    d = m.dict({p: 'p'})
    ok, r = R.step('dict: instance key', lambda: d.get(Point(1, 2)), compare=False)
    R.check('dict: instance key (structural)', ok and r == 'p', repr(r), only='managerd')
    R.step('sort instances: TypeError', lambda: m.list([p, q]).sort(), compare=PY3)


def main(R, a):
    m = cl.connect(a)
    numbers(R, m)
    times(R, m)
    containers(R, m)
    instances(R, m, a.server)


if __name__ == '__main__':
    cl.run_main(main)
