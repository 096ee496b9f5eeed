#!/usr/bin/env python3
"""bench_xmlrpc.py - XML-RPC figures of managerd beside CPython's own servers.

    python3 tests/bench/bench_xmlrpc.py [--managerd PATH] [--seconds S]

1. XML-RPC over HTTP with keep-alive: one client on one connection doing
   call(id, '__setitem__', ['k', i], {}) on a dict, against managerd's
   http:// endpoint and against Python's SimpleXMLRPCServer (HTTP/1.1, so
   keep-alive too) serving the same call() on a Python dict.
2. The 'xmlrpclib' manager serializer: a SyncManager(serializer='xmlrpclib')
   client doing d['k'] = i on a DictProxy, against managerd's
   ?serializer=xmlrpclib listener and CPython's own manager server with
   serializer='xmlrpclib'.

The client is the same Python program in both columns, so a ratio is
bounded by what one Python client can send. Prints calls/s and the ratios.
A benchmark, not a test: it never fails on time. Loopback only.
"""
import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client as xc
from multiprocessing.managers import SyncManager

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, 'tests', 'lib'))
import procs                        # noqa: E402
KEY = b'bench-xmlrpc-key'

SIMPLE_SERVER = r'''
import sys
from xmlrpc.server import SimpleXMLRPCServer, SimpleXMLRPCRequestHandler

class Handler(SimpleXMLRPCRequestHandler):
    protocol_version = 'HTTP/1.1'          # keep-alive, like managerd
    rpc_paths = ('/RPC2',)

objects = {}
def create(typeid, args=(), kwargs={}):
    ident = '%x' % (len(objects) + 1)
    objects[ident] = dict(*args, **kwargs)
    return [ident, ['__setitem__', '__getitem__']]
def call(ident, method, args=(), kwargs={}):
    return getattr(objects[ident], method)(*args, **kwargs)

server = SimpleXMLRPCServer(('127.0.0.1', 0), requestHandler=Handler, allow_none=True,
                            logRequests=False)
server.register_function(create)
server.register_function(call)
print('simple: listening on http://127.0.0.1:%d/RPC2' % server.server_address[1], flush=True)
server.serve_forever()
'''


def start(cmd, pattern, env=None):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env)
    found = [m.group(1) for m in procs.read_matches(p.stdout, pattern, max(1, cmd.count('--listen')), 20)]
    if len(found) == max(1, cmd.count('--listen')):
        return p, found
    p.kill()
    raise SystemExit('bench_xmlrpc: %s did not start' % cmd[0])


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def http_rate(url, seconds, auth=None):
    """calls/s of call(id, '__setitem__', ['k', i], {}) on one keep-alive connection."""
    s = xc.ServerProxy(url.replace('http://', 'http://bench:%s@' % auth.decode()) if auth else url,
                       allow_none=True)
    ident = s.create('dict', [], {})[0]
    s('close')()          # SimpleXMLRPCServer serves one connection at a time
    host, port = re.match(r'http://([^:/]+):(\d+)', url).groups()
    conn = http.client.HTTPConnection(host, int(port))
    headers = {'Content-Type': 'text/xml'}
    if auth:
        import base64
        headers['Authorization'] = 'Basic ' + base64.b64encode(b'bench:' + auth).decode()
    n = 0
    end = time.monotonic() + seconds
    start_t = time.monotonic()
    while time.monotonic() < end:
        for i in range(100):
            body = xc.dumps((ident, '__setitem__', ['k', i], {}), 'call').encode()
            conn.request('POST', '/RPC2', body, headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200 or b'<fault>' in data:
                raise SystemExit('bench_xmlrpc: bad reply %r %r' % (r.status, data[:200]))
        n += 100
    conn.close()
    return n / (time.monotonic() - start_t)


def manager_rate(address, seconds):
    m = SyncManager(address=address, authkey=KEY, serializer='xmlrpclib')
    m.connect()
    d = m.dict()
    n = 0
    end = time.monotonic() + seconds
    start_t = time.monotonic()
    while time.monotonic() < end:
        for i in range(100):
            d['k'] = i
        n += 100
    if d['k'] != 99:
        raise SystemExit('bench_xmlrpc: wrong value read back')
    return n / (time.monotonic() - start_t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--managerd', default=os.path.join(TOP, 'managerd'))
    ap.add_argument('--seconds', type=float, default=3.0)
    a = ap.parse_args()
    if not os.path.exists(a.managerd):
        raise SystemExit('bench_xmlrpc: %s not found (--managerd PATH)' % a.managerd)
    env = dict(os.environ)
    env['MANAGERD_AUTHKEY'] = KEY.decode()
    procs = []
    try:
        md, addrs = start([a.managerd, '--listen', 'http://127.0.0.1:0/RPC2',
                           '--listen', '127.0.0.1:0?serializer=xmlrpclib', '--log-level', 'error'],
                          r'managerd: listening on (\S+)', env)
        procs.append(md)
        simple, saddr = start([sys.executable, '-c', SIMPLE_SERVER], r'simple: listening on (\S+)')
        procs.append(simple)
        ref, raddr = start([sys.executable, os.path.join(TOP, 'tests', 'lib', 'refserver.py'),
                            '--authkey-env', 'MANAGERD_AUTHKEY', '--serializer', 'xmlrpclib'],
                           r'refserver: listening on (\S+)', env)
        procs.append(ref)
        http_md = http_rate(addrs[0], a.seconds, KEY)
        http_py = http_rate(saddr[0], a.seconds)
        xhost, xport = re.match(r'tcp://([^:]+):(\d+)', addrs[1]).groups()
        rhost, rport = re.match(r'tcp://([^:]+):(\d+)', raddr[0]).groups()
        mgr_md = manager_rate((xhost, int(xport)), a.seconds)
        mgr_py = manager_rate((rhost, int(rport)), a.seconds)
    finally:
        for p in procs:
            stop(p)
    print('XML-RPC figures (one Python %d.%d client, %.0f s each, loopback)'
          % (sys.version_info[0], sys.version_info[1], a.seconds))
    print('%-44s %10s %10s %7s' % ('calls/s', 'managerd', 'CPython', 'ratio'))
    print('%-44s %10.0f %10.0f %6.1fx' % ('HTTP keep-alive (CPython: SimpleXMLRPCServer)',
                                          http_md, http_py, http_md / http_py))
    print('%-44s %10.0f %10.0f %6.1fx' % ("xmlrpclib manager (CPython's own server)",
                                          mgr_md, mgr_py, mgr_md / mgr_py))


if __name__ == '__main__':
    main()
