#!/usr/bin/env python3
"""http_endpoint - managerd's XML-RPC-over-HTTP endpoint with Python's own
xmlrpc.client (ServerProxy with allow_none=True, use_builtin_types=True,
MultiCall) and raw HTTP requests: every method, introspection, multicall
with a fault inside, HTTP Basic authentication (401), Content-Type (415),
the body limit at and past --max-message (413), keep-alive, every fault code
of the README table, the value mapping of the README table in both
directions (with a Python pickle client on the other side), blocking calls
parked until a put from another client or their timeout, and a client that
disconnects while parked. Prints 'N passed, M failed'.
"""
import base64
import concurrent.futures
import datetime
import http.client
import math
import os
import socket
import sys
import threading
import time
import xmlrpc.client as xc
from multiprocessing.managers import DictProxy, SyncManager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xtest                                    # noqa: E402
from xtest import KEY, Managerd                 # noqa: E402

MAX_MESSAGE = 4096                              # the smallest --max-message allowed


class Point(object):
    """An instance a pickle client stores: managerd keeps it opaque."""

    def __init__(self, x, y):
        self.x, self.y = x, y


class PManager(SyncManager):
    pass


PManager.register('get_queue')
PManager.register('get_xdict', proxytype=DictProxy)


def proxy(md, **kw):
    return xc.ServerProxy(md.http_url(**kw), allow_none=True, use_builtin_types=True)


def fault(fn, *args):
    """(faultCode, faultString) of a call expected to fail, or ('no fault', result)."""
    try:
        return ('no fault', fn(*args))
    except xc.Fault as f:
        return (f.faultCode, f.faultString)


def raw_post(md, body, content_type='text/xml', auth=True, path=None, conn=None, method='POST'):
    """One raw HTTP request; returns (status, headers dict, body bytes)."""
    host, port = xtest.host_port(md.http_url(password=False))
    c = conn or http.client.HTTPConnection(host, port, timeout=15)
    headers = {}
    if content_type:
        headers['Content-Type'] = content_type
    if auth:
        token = base64.b64encode(b'user:' + md.authkey).decode()
        headers['Authorization'] = 'Basic ' + token
    c.request(method, path or '/RPC2', body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, dict(r.getheaders()), data


def call_xml(method, *params_xml):
    """A <methodCall> whose params are raw <value> texts."""
    ps = ''.join('<param><value>%s</value></param>' % p for p in params_xml)
    return ('<?xml version="1.0"?><methodCall><methodName>%s</methodName><params>%s</params>'
            '</methodCall>' % (method, ps)).encode()


def test_introspection(t, s):
    names = s.system.listMethods()
    t.eq('system.listMethods', sorted(names), sorted([
        'create', 'call', 'incref', 'decref', 'get_methods', 'number_of_objects', 'debug_info', 'shutdown',
        'system.listMethods', 'system.methodHelp', 'system.methodSignature', 'system.multicall']))
    for n in names:
        h = s.system.methodHelp(n)
        t.ok('system.methodHelp(%s) is text' % n, isinstance(h, str) and len(h) > 10, repr(h))
        sig = s.system.methodSignature(n)
        t.ok('system.methodSignature(%s) is [[types...]]' % n,
             isinstance(sig, list) and sig and all(isinstance(x, str) for x in sig[0]), repr(sig))
    t.eq('system.methodSignature(create)', s.system.methodSignature('create'),
         [['array', 'string', 'array', 'struct']])
    t.eq('system.methodHelp of an unknown method: fault -32602',
         fault(s.system.methodHelp, 'nope')[0], -32602)


def test_methods(t, md, s):
    n0 = s.number_of_objects()
    ident, exposed = s.create('dict', [], {})
    t.ok('create(dict) -> [id, exposed]', isinstance(ident, str) and '__getitem__' in exposed,
         repr([ident, exposed]))
    t.eq('number_of_objects grows by one', s.number_of_objects(), n0 + 1)
    t.eq('call __setitem__', s.call(ident, '__setitem__', ['a', 1], {}), None)
    t.eq('call __getitem__', s.call(ident, '__getitem__', ['a'], {}), 1)
    t.eq('call with args and kwargs omitted', s.call(ident, '__len__'), 1)
    t.eq('call with kwargs (update(b=2))', s.call(ident, 'update', [], {'b': 2}), None)
    t.eq('call __str__', s.call(ident, '__str__', [], {}), "{'a': 1, 'b': 2}")
    t.eq('keys() as an array', s.call(ident, 'keys', [], {}), ['a', 'b'])
    t.eq('items() as arrays', s.call(ident, 'items', [], {}), [['a', 1], ['b', 2]])
    t.eq('get with a default', s.call(ident, 'get', ['zz', 'dflt'], {}), 'dflt')
    t.eq('get_methods(id)', sorted(s.get_methods(ident)), sorted(exposed))
    t.ok('get_methods of a --share name', 'put' in s.get_methods('get_queue'),
         repr(s.get_methods('get_queue')))
    t.ok('debug_info names the object', ident in s.debug_info() and 'refcount=1' in s.debug_info(),
         s.debug_info())
    t.eq('incref', s.incref(ident), None)
    t.ok('debug_info shows refcount=2', 'refcount=2' in s.debug_info(), s.debug_info())
    t.eq('decref', s.decref(ident), None)
    t.eq('number_of_objects after one decref', s.number_of_objects(), n0 + 1)
    t.eq('decref to zero', s.decref(ident), None)
    t.eq('number_of_objects back', s.number_of_objects(), n0)
    t.eq('a dropped object: fault 4', fault(s.call, ident, '__len__', [], {})[0], 4)
    t.eq('get_methods of no object: fault 4', fault(s.get_methods, 'ffffffff')[0], 4)
    ident2, _ = s.create('dict', [], {'x': 1})
    t.eq('create with kwargs', s.call(ident2, '__getitem__', ['x'], {}), 1)
    s.decref(ident2)
    ident3, _ = s.create('list', [[1, 2, 3]], {})
    t.eq('create with args', s.call(ident3, '__getitem__', [2], {}), 3)
    t.eq('create(list) exposes __getitem__ by number', s.call(ident3, '__len__', [], {}), 3)
    s.decref(ident3)
    t.eq('every object released', s.number_of_objects(), n0)


def test_faults(t, md, s, pickle_dict):
    """Every fault code of the README table (-32603, out of memory, cannot
    be provoked from outside)."""
    ident, _ = s.create('dict', [], {})
    t.eq('fault 1: a Python exception, "Class: message"',
         fault(s.call, ident, '__getitem__', ['missing'], {}), (1, "KeyError: 'missing'"))
    code, text = fault(s.create, 'NoSuchType', [], {})
    t.ok('fault 2: unknown typeid', code == 2 and 'NoSuchType' in text, repr((code, text)))
    code, text = fault(s.create, 'Pool', [], {})
    t.ok('fault 2: a refused type (Pool)', code == 2 and 'Pool' in text, repr((code, text)))
    code, text = fault(s.create, 'dict', [1, 2, 3], {})
    t.ok('fault 2: bad constructor arguments', code == 2, repr((code, text)))
    pickle_dict['complex'] = 1 + 2j
    code, text = fault(s.call, 'get_xdict', '__getitem__', ['complex'], {})
    t.ok('fault 3: a complex number cannot be expressed',
         code == 3 and 'complex' in text, repr((code, text)))
    code, text = fault(s.call, 'ffffffffffff', '__len__', [], {})
    t.ok('fault 4: no object with that id', code == 4 and 'ffffffffffff' in text, repr((code, text)))
    for body, what in [(b'<methodCall><methodName>x', 'truncated XML'),
                       (b'not xml at all', 'not XML'),
                       (b'<!DOCTYPE methodCall><methodCall><methodName>x</methodName></methodCall>',
                        'a DTD')]:
        status, _, data = raw_post(md, body)
        f = fault(xc.loads, data)[0] if status == 200 else status
        code = f if not isinstance(f, tuple) else f
        t.ok('fault -32700 or -32600 for %s' % what, code in (-32700, -32600) and
             (what == 'a DTD' or code == -32700), 'status %r code %r' % (status, code))
    status, _, data = raw_post(md, b'<?xml version="1.0"?><methodResponse/>')
    t.eq('fault -32600: well-formed but not a method call', fault(xc.loads, data)[0], -32600)
    status, _, data = raw_post(md, call_xml('create', '<boolean>2</boolean>'))
    t.eq('fault -32600: a bad value (<boolean>2</boolean>)', fault(xc.loads, data)[0], -32600)
    t.eq('fault -32601: no such method', fault(s.nope)[0], -32601)
    t.eq('fault -32601: no such method (system.nope)', fault(s.system.nope)[0], -32601)
    t.eq('fault -32602: call with one parameter', fault(s.call, ident)[0], -32602)
    t.eq('fault -32602: create with a non-string typeid', fault(s.create, 5)[0], -32602)
    t.eq('fault -32602: incref without an id', fault(s.incref)[0], -32602)
    t.eq('fault -32602: number_of_objects with a parameter', fault(s.number_of_objects, 1)[0], -32602)
    t.eq('fault -32602: call with args not an array', fault(s.call, ident, 'get', 'x', {})[0], -32602)
    t.eq('the connection works after faults', s.call(ident, '__len__', [], {}), 0)
    s.decref(ident)


def test_multicall(t, s):
    ident, _ = s.create('dict', [], {})
    mc = xc.MultiCall(s)
    mc.call(ident, '__setitem__', ['k', 'v'], {})
    mc.call(ident, '__getitem__', ['k'], {})
    mc.call(ident, '__getitem__', ['missing'], {})      # a fault inside
    mc.number_of_objects()
    mc.nope()
    mc.call(ident, '__len__', [], {})
    results = []
    got = mc()
    for i in range(6):
        try:
            results.append(('ok', got[i]))
        except xc.Fault as f:
            results.append(('fault', f.faultCode, f.faultString))
    t.eq('multicall: results in order', results[0:2], [('ok', None), ('ok', 'v')])
    t.eq('multicall: the fault inside', results[2], ('fault', 1, "KeyError: 'missing'"))
    t.ok('multicall: number_of_objects after the fault', results[3][0] == 'ok' and
         isinstance(results[3][1], int), repr(results[3]))
    t.ok('multicall: no such method inside', results[4][:2] == ('fault', -32601), repr(results[4]))
    t.eq('multicall: the call after the faults ran', results[5], ('ok', 1))
    r = s.system.multicall([{'methodName': 'system.multicall', 'params': [[]]},
                            {'methodName': 5},
                            {'methodName': 'number_of_objects', 'params': []}])
    t.ok('multicall: nested multicall refused (-32600)', isinstance(r[0], dict) and
         r[0].get('faultCode') == -32600, repr(r[0]))
    t.ok('multicall: a malformed entry refused (-32600)', isinstance(r[1], dict) and
         r[1].get('faultCode') == -32600, repr(r[1]))
    t.ok('multicall: results are one-element arrays', isinstance(r[2], list) and len(r[2]) == 1,
         repr(r[2]))
    t.eq('multicall with a non-array: fault -32602', fault(s.system.multicall, 'x')[0], -32602)
    # a blocking call inside a multicall is parked and the rest resumes after it
    q, _ = s.create('Queue', [], {})
    s.call(q, 'put', ['first'], {})
    r = s.system.multicall([{'methodName': 'call', 'params': [q, 'get', [True, 1.0], {}]},
                            {'methodName': 'call', 'params': [q, 'get', [True, 0.2], {}]},
                            {'methodName': 'call', 'params': [q, 'qsize', [], {}]}])
    t.ok('multicall: get, a get that times out (Empty), then qsize',
         r[0] == ['first'] and isinstance(r[1], dict) and r[1]['faultCode'] == 1 and
         'Empty' in r[1]['faultString'] and r[2] == [0], repr(r))
    s.decref(q)
    s.decref(ident)


def test_http_layer(t, md):
    host, port = xtest.host_port(md.http_url(password=False))
    try:
        proxy(md, password=False).number_of_objects()
        t.ok('401 without credentials', False, 'no error')
    except xc.ProtocolError as e:
        t.eq('401 without credentials', e.errcode, 401)
    try:
        proxy(md, password='wrong').number_of_objects()
        t.ok('401 with a wrong password', False, 'no error')
    except xc.ProtocolError as e:
        t.eq('401 with a wrong password', e.errcode, 401)
    try:
        proxy(md, password=md.authkey.decode() + 'x').number_of_objects()
        t.ok('401 with the key plus one character', False, 'no error')
    except xc.ProtocolError as e:
        t.eq('401 with the key plus one character', e.errcode, 401)
    status, headers, _ = raw_post(md, call_xml('number_of_objects'), auth=False)
    t.ok('401 names the Basic realm', status == 401 and 'Basic' in headers.get('WWW-Authenticate', ''),
         repr((status, headers)))
    t.ok('any user name is accepted', isinstance(proxy(md, user='someone-else').number_of_objects(), int))
    status, _, _ = raw_post(md, call_xml('number_of_objects'), content_type='application/json')
    t.eq('415 on Content-Type application/json', status, 415)
    status, _, _ = raw_post(md, call_xml('number_of_objects'), content_type=None)
    t.eq('415 without a Content-Type', status, 415)
    status, _, _ = raw_post(md, call_xml('number_of_objects'), content_type='text/xml; charset=utf-8')
    t.eq('200 with text/xml; charset=utf-8', status, 200)
    status, _, _ = raw_post(md, call_xml('number_of_objects'), path='/other')
    t.eq('404 on another path', status, 404)
    status, headers, _ = raw_post(md, None, method='GET')
    t.ok('405 on GET, with Allow: POST', status == 405 and headers.get('Allow') == 'POST',
         repr((status, headers)))
    # the body limit: --max-message bytes pass, one more is 413
    base = call_xml('number_of_objects')
    pad = MAX_MESSAGE - len(base)
    at_limit = base + b' ' * pad
    status, _, data = raw_post(md, at_limit)
    t.ok('a body of exactly --max-message bytes is served', status == 200 and
         isinstance(xc.loads(data)[0][0], int), repr((len(at_limit), status, data[:200])))
    status, _, _ = raw_post(md, at_limit + b' ')
    t.eq('413 on a body one byte over --max-message', status, 413)
    status, _, _ = raw_post(md, b'x' * (4 * MAX_MESSAGE))
    t.eq('413 on a much larger body', status, 413)
    # keep-alive: several calls on one connection, the socket stays the same
    c = http.client.HTTPConnection(host, port, timeout=15)
    socks = []
    for i in range(5):
        status, headers, data = raw_post(md, call_xml('number_of_objects'), conn=c)
        socks.append(id(c.sock))
        t.ok('keep-alive call %d' % i, status == 200 and headers.get('Connection', '') != 'close',
             repr((status, headers)))
    t.eq('keep-alive: one socket for every call', len(set(socks)), 1)
    c.close()
    # ServerProxy reuses its connection too
    s = proxy(md)
    for _ in range(3):
        s.number_of_objects()
    conn = s._ServerProxy__transport._connection[1]
    sock = conn.sock if conn else None
    s.number_of_objects()
    t.ok('ServerProxy keeps its connection', sock is not None and conn.sock is sock)


def test_values(t, md, s, pm):
    """The README's value table, both ways, with a pickle client across."""
    x = pm.get_xdict()
    d, _ = s.create('dict', [], {})
    ident = d

    def rt(v):
        s.call(ident, '__setitem__', ['v', v], {})
        return s.call(ident, '__getitem__', ['v'], {})
    for v in [None, 0, -1, 2 ** 31 - 1, -2 ** 31, True, False, 1.5, -0.0, 1e300, 'text',
              u'h\xe9llo \u20ac \U0001F600', '', 'a&b<c>', b'\x00\xffbinary', [], [1, [2, [3]]],
              {}, {'k': [1, {'n': None}]}, datetime.datetime(2024, 1, 2, 3, 4, 5)]:
        t.eq('round trip over HTTP: %r' % (v,), rt(v), v)
    got = rt(float('inf'))
    t.ok('inf round trip', got == float('inf'), repr(got))
    got = rt(float('nan'))
    t.ok('nan round trip', isinstance(got, float) and math.isnan(got), repr(got))
    t.eq('-0.0 keeps its sign', math.copysign(1, rt(-0.0)), -1.0)
    # what a Python client cannot send: raw XML of every integer tag
    for tag, text, want in [('int', '7', 7), ('i4', '-7', -7), ('i1', '5', 5), ('i2', '300', 300),
                            ('i8', str(2 ** 40), 2 ** 40), ('biginteger', str(10 ** 30), 10 ** 30),
                            ('i8', str(-2 ** 63), -2 ** 63)]:
        status, _, data = raw_post(md, call_xml('call', '<string>%s</string>' % ident,
                                                '<string>__setitem__</string>',
                                                '<array><data><value>w</value><value><%s>%s</%s></value>'
                                                '</data></array>' % (tag, text, tag)))
        back = s.call(ident, '__getitem__', ['w'], {})
        t.eq('<%s>%s</%s> read as int' % (tag, text, tag), back, want)
        x['copy'] = None
        s.call('get_xdict', '__setitem__', ['copy', back], {}) if abs(want) < 2 ** 31 else None
    status, _, data = raw_post(md, call_xml('call', '<string>%s</string>' % ident,
                                            '<string>__getitem__</string>',
                                            '<array><data><value>w</value></data></array>'))
    t.ok('a 64-bit int is written as <i8>', b'<i8>-9223372036854775808</i8>' in data, data)
    s.call(ident, '__setitem__', ['small', 5], {})
    status, _, data = raw_post(md, call_xml('call', '<string>%s</string>' % ident,
                                            '<string>__getitem__</string>',
                                            '<array><data><value>small</value></data></array>'))
    t.ok('a 32-bit int is written as <int>', b'<int>5</int>' in data, data)
    x['huge'] = 2 ** 100
    status, _, data = raw_post(md, call_xml('call', '<string>get_xdict</string>',
                                            '<string>__getitem__</string>',
                                            '<array><data><value>huge</value></data></array>'))
    t.ok('an int beyond 64 bits is written as <int> with all its digits',
         ('<int>%d</int>' % 2 ** 100).encode() in data, data)
    t.eq('... which Python reads', s.call('get_xdict', '__getitem__', ['huge'], {}), 2 ** 100)
    status, _, data = raw_post(md, call_xml('call', '<string>%s</string>' % ident,
                                            '<string>__setitem__</string>',
                                            '<array><data><value>t</value><value>bare text</value>'
                                            '</data></array>'))
    t.eq('text directly in <value> is a string', s.call(ident, '__getitem__', ['t'], {}), 'bare text')
    status, _, data = raw_post(md, call_xml('call', '<string>%s</string>' % ident,
                                            '<string>__setitem__</string>',
                                            '<array><data><value>f</value><value><float>2.5</float>'
                                            '</value></data></array>'))
    t.eq('<float> is read as a double', s.call(ident, '__getitem__', ['f'], {}), 2.5)
    # HTTP -> pickle client
    s.call('get_xdict', '__setitem__', ['from_http', [1, 'two', {'three': 3.0}, b'\x01', None]], {})
    t.eq('a pickle client reads what HTTP stored (list, dict, bytes, None)', x['from_http'],
         [1, 'two', {'three': 3.0}, b'\x01', None])
    s.call('get_xdict', '__setitem__', ['when', datetime.datetime(2024, 1, 2, 3, 4, 5)], {})
    when = x['when']
    t.ok('a dateTime.iso8601 reaches a pickle client as xmlrpc.client.DateTime',
         isinstance(when, xc.DateTime) and when.value == '20240102T03:04:05', repr(when))
    x['dt_back'] = xc.DateTime('20250607T08:09:10')
    t.eq('... and a DateTime from a pickle client is a dateTime over HTTP',
         s.call('get_xdict', '__getitem__', ['dt_back'], {}), datetime.datetime(2025, 6, 7, 8, 9, 10))
    # pickle -> HTTP
    x.update({'tuple': (1, (2, 3)), 'set': {1, 2}, 'frozenset': frozenset({'a'}),
              'bytearray': bytearray(b'ba'), 'point': Point(1, 2), 'intkeys': {1: 'a'},
              'control': 'a\x01b', 'surrogate': '\udc80', 'fffe': '\ufffe', 'cr': 'a\rb',
              'unicode_key': {u'cl\xe9': 1}})
    g = lambda k: s.call('get_xdict', '__getitem__', [k], {})    # noqa: E731
    t.eq('a tuple is written as an array', g('tuple'), [1, [2, 3]])
    t.eq('a set is written as an array', sorted(g('set')), [1, 2])
    t.eq('a frozenset is written as an array', g('frozenset'), ['a'])
    t.eq('a bytearray is written as base64', g('bytearray'), b'ba')
    t.eq('an instance is written as a struct of its state', g('point'), {'x': 1, 'y': 2})
    t.eq('a struct with a non-ASCII name', g('unicode_key'), {u'cl\xe9': 1})
    for k, needle in [('intkeys', 'dictionary key must be string'), ('control', 'control character'),
                      ('surrogate', 'surrogate'), ('fffe', 'U+FFFE')]:
        code, text = fault(g, k)
        t.ok('%s cannot be written: fault 3 naming why' % k, code == 3 and needle in text,
             repr((code, text)))
    t.eq('a CR is written raw and read back as LF (as by Python)', g('cr'), 'a\nb')
    s.decref(ident)


def test_blocking(t, md, pm):
    s = proxy(md)
    n0 = s.number_of_objects()
    q, _ = s.create('Queue', [], {})

    def later_put():
        time.sleep(0.3)
        proxy(md).call(q, 'put', ['wake'], {})     # another HTTP connection
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        start = time.monotonic()
        fut = pool.submit(later_put)
        got = s.call(q, 'get', [True, 5], {})
        took = time.monotonic() - start
        fut.result(10)
    t.eq('a parked get is completed by a put from another HTTP client', got, 'wake')
    t.ok('... as soon as the put came', 0.25 < took < 3.0, '%.2fs' % took)
    t.eq('the keep-alive connection works after the parked call', s.number_of_objects(), n0 + 1)
    # completed by a Python pickle client putting into the shared queue
    def pickle_put():
        time.sleep(0.3)
        m3 = PManager(address=md.tcp(0), authkey=KEY)
        m3.connect()
        m3.get_queue().put('from pickle')
    s.call('get_queue', 'get_nowait', [], {}) if s.call('get_queue', 'qsize', [], {}) else None
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(pickle_put)
        got = s.call('get_queue', 'get', [True, 2], {})
        fut.result(10)
    t.eq("call(q, 'get', [True, 2]) completed by a pickle client's put", got, 'from pickle')
    # a blocking call that times out
    start = time.monotonic()
    code, text = fault(s.call, q, 'get', [True, 0.4], {})
    took = time.monotonic() - start
    t.ok('a blocking get times out with fault 1 Empty', code == 1 and 'Empty' in text,
         repr((code, text)))
    t.ok('... after its timeout', 0.35 < took < 3.0, '%.2fs' % took)
    # a client that disconnects while parked
    host, port = xtest.host_port(md.http_url(password=False))
    body = call_xml('call', '<string>%s</string>' % q, '<string>get</string>',
                    '<array><data><value><boolean>1</boolean></value><value><int>30</int></value>'
                    '</data></array>')
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(b'POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n'
                 b'Authorization: Basic ' + base64.b64encode(b'u:' + md.authkey) +
                 b'\r\nContent-Length: ' + str(len(body)).encode() + b'\r\n\r\n' + body)
    time.sleep(0.3)
    sock.close()
    time.sleep(0.3)
    s.call(q, 'put', ['kept'], {})
    t.eq('the vanished client took its parked get with it (the item stays)',
         s.call(q, 'qsize', [], {}), 1)
    t.eq('... and the next get receives it', fault(s.call, q, 'get', [True, 0.5], {}),
         ('no fault', 'kept'))
    s.decref(q)
    t.eq('number_of_objects back after the disconnect', s.number_of_objects(), n0)
    t.ok('managerd alive', md.alive())
    # ownership per connection: an RLock acquired on one connection
    r, _ = s.create('RLock', [], {})
    t.eq('RLock acquired on connection 1', s.call(r, 'acquire', [], {}), True)
    other = proxy(md)
    code, text = fault(other.call, r, 'release', [], {})
    t.ok('released from connection 2: fault 1 RuntimeError', code == 1 and 'RuntimeError' in text,
         repr((code, text)))
    t.eq('released from connection 1', s.call(r, 'release', [], {}), None)
    s.decref(r)


def test_sharing(t, md, s, pm):
    """A dict a pickle client filled, read over HTTP; a queue filled over
    HTTP, drained by a pickle client."""
    d = pm.dict({'from': 'pickle', 'n': [1, 2]})
    ident = d._token.id
    t.eq('a dict filled by a pickle client, read over HTTP', s.call(ident, 'copy', [], {}),
         {'from': 'pickle', 'n': [1, 2]})
    for i in range(3):
        s.call('get_queue', 'put', ['http %d' % i], {})
    q = pm.get_queue()
    t.eq('a queue filled over HTTP, drained by a pickle client', [q.get(timeout=2) for _ in range(3)],
         ['http 0', 'http 1', 'http 2'])


def main(t):
    md = Managerd(['127.0.0.1:0', 'http://127.0.0.1:0/RPC2'],
                  ['--share', 'get_queue=Queue', '--share', 'get_xdict=dict',
                   '--max-message', str(MAX_MESSAGE)]).start()
    try:
        s = proxy(md)
        pm = PManager(address=md.tcp(0), authkey=KEY)
        pm.connect()
        for fn, args in [(test_introspection, (t, s)), (test_methods, (t, md, s)),
                         (test_faults, (t, md, s, pm.get_xdict())), (test_multicall, (t, s)),
                         (test_http_layer, (t, md)), (test_values, (t, md, s, pm)),
                         (test_blocking, (t, md, pm)), (test_sharing, (t, md, s, pm))]:
            before = t.failed
            try:
                fn(*args)
            except Exception:
                import traceback
                t.ok('%s crashed' % fn.__name__, False, traceback.format_exc())
            print('%s: %s' % (fn.__name__, 'ok' if t.failed == before else
                              '%d failed' % (t.failed - before)))
    finally:
        for p in md.stop():
            t.ok('managerd stops cleanly', False, p)


if __name__ == '__main__':
    xtest.main_wrapper(main)
