#!/usr/bin/env python3
"""cross_language - managerd's objects shared by clients in several
languages: xmlrpc-c's `xmlrpc` command-line tool, the C example client
(clients/xmlrpc_example, xmlrpc-c's client library), Perl (RPC::XML), Node
(the 'xmlrpc' npm package, installed from package-lock.json into
tests/xmlrpc/node_modules with `npm ci` when missing), Python xmlrpclib-
serializer manager clients and Python pickle clients, all on one managerd.

The crossing test: a Python pickle client creates a Queue, Perl puts into
it over HTTP, Node gets from it over HTTP, and a Python xmlrpclib manager
client checks that it is empty. A missing tool is a failure, never a skip.
Prints 'N passed, M failed'.
"""
import json
import os
import shutil
import subprocess
import sys
from multiprocessing.managers import AutoProxy, DictProxy, SyncManager, Token

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xtest                                    # noqa: E402
from xtest import HERE, KEY, Managerd, TestFailure   # noqa: E402

EXPECTED_COPY = {'str': None, 'int': -42, 'double': 2.5, 'bool': True, 'nil': None,
                 'array': [1, 'two', [3]], 'struct': {'a': 1, 'b': ['x']}, 'base64': 'AP9iaW4='}


class PManager(SyncManager):
    pass


PManager.register('get_queue')
PManager.register('get_xdict', proxytype=DictProxy)


def need(tool):
    path = shutil.which(tool)
    if not path:
        raise TestFailure('%s not found on PATH (see ./dev: it installs the packages)' % tool)
    return path


def run(cmd, timeout=60, env_extra=None, cwd=HERE):
    env = dict(os.environ)
    env['MANAGERD_AUTHKEY'] = KEY.decode()
    if env_extra:
        env.update(env_extra)
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout * xtest.SLOW, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        return None, '', '%s timed out' % cmd[0]
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def loose(v):
    """Perl prints numbers as strings: compare through this."""
    if isinstance(v, dict):
        return dict((k, loose(x)) for k, x in v.items())
    if isinstance(v, list):
        return [loose(x) for x in v]
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v) if not float(v).is_integer() else str(int(v))
    return v


def check_demo(t, lang, out, url_plain, pickle_mgr):
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        t.ok('%s: demo printed JSON' % lang, False, out[-2000:])
        return
    t.ok('%s: create(dict) exposes __getitem__' % lang, r.get('exposes_getitem') is True, repr(r))
    copy = dict(r.get('copy') or {})
    want = dict(EXPECTED_COPY, str='%s h\u00e9llo' % lang.lower())
    if lang == 'Perl':
        want['i8'] = 2 ** 40
    t.eq('%s: every value type stored and read back' % lang, loose(copy), loose(want))
    t.eq('%s: len' % lang, loose(r.get('len')), loose(len(want)))
    t.eq('%s: KeyError is fault 1' % lang, loose(r.get('missing')), loose([1, "KeyError: 'missing'"]))
    t.ok('%s: no such method is fault -32601' % lang,
         loose(r.get('nomethod', [None])[0]) == '-32601', repr(r.get('nomethod')))
    t.ok('%s: after decref the object is gone (fault 4)' % lang,
         loose(r.get('after_decref', [None])[0]) == '4', repr(r.get('after_decref')))
    if 'multicall' in r:
        mc = r['multicall']
        t.ok('%s: system.multicall with a fault inside' % lang,
             len(mc) == 2 and loose(mc[0]) == [loose(len(want))] and
             loose(mc[1].get('faultCode')) == '1', repr(mc))


def main(t):
    # every tool first: a missing one fails the test with its name
    xmlrpc_cli = need('xmlrpc')
    perl = need('perl')
    node = need('node')
    npm = need('npm')
    example = os.path.join(xtest.TOP_BUILDDIR, 'clients', 'xmlrpc_example')
    if not os.path.exists(example):
        raise TestFailure('%s not built (make check builds it)' % example)
    st, _, err = run([perl, '-MRPC::XML::Client', '-e', '1'])
    if st != 0:
        raise TestFailure('Perl RPC::XML missing (Debian: librpc-xml-perl): %s' % err[-300:])
    # node_modules beside package.json, or (read-only source tree, as in
    # make distcheck) in the build tree from a copy of the two files
    node_dir = HERE
    if not os.path.isdir(os.path.join(HERE, 'node_modules', 'xmlrpc')) and not os.access(HERE, os.W_OK):
        node_dir = os.path.join(xtest.TOP_BUILDDIR, 'tests', 'xmlrpc')
        os.makedirs(node_dir, exist_ok=True)
        for f in ('package.json', 'package-lock.json'):
            shutil.copyfile(os.path.join(HERE, f), os.path.join(node_dir, f))
    if not os.path.isdir(os.path.join(node_dir, 'node_modules', 'xmlrpc')):
        st, out, err = run([npm, 'ci', '--no-audit', '--no-fund'], timeout=300, cwd=node_dir)
        if st != 0:
            raise TestFailure('npm ci failed in %s: %s' % (node_dir, (out + err)[-2000:]))
    os.environ['NODE_PATH'] = os.path.join(node_dir, 'node_modules')

    md = Managerd(['127.0.0.1:0', 'http://127.0.0.1:0/RPC2', '127.0.0.1:0?serializer=xmlrpclib'],
                  ['--share', 'get_queue=Queue', '--share', 'get_xdict=dict']).start()
    try:
        url = md.http_url(password=False)
        pm = PManager(address=md.tcp(0), authkey=KEY)
        pm.connect()
        x = pm.get_xdict()
        auth = ['-username', 'cli', '-password', KEY.decode()]

        # -- xmlrpc-c's command-line tool (scalar parameters only)
        st, out, err = run([xmlrpc_cli, url] + auth + ['number_of_objects'])
        t.ok('xmlrpc CLI: number_of_objects', st == 0 and 'Integer:' in out, out + err)
        st, out, err = run([xmlrpc_cli, url] + auth + ['create', 's/Queue'])
        t.ok('xmlrpc CLI: create(Queue)', st == 0 and 'Array of 2 items' in out, out + err)
        x['cli'] = 'set by a pickle client'
        st, out, err = run([xmlrpc_cli, url] + auth + ['call', 's/get_xdict', 's/__len__'])
        t.ok('xmlrpc CLI: reads a dict a pickle client filled', st == 0 and 'Integer: 1' in out,
             out + err)
        pm.get_queue().put('for the CLI')
        st, out, err = run([xmlrpc_cli, url] + auth + ['call', 's/get_queue', 's/get_nowait'])
        t.ok('xmlrpc CLI: gets what a pickle client put', st == 0 and "'for the CLI'" in out, out + err)
        st, out, err = run([xmlrpc_cli, url] + auth + ['call', 's/get_queue', 's/get_nowait'])
        t.ok('xmlrpc CLI: Empty is fault 1', st != 0 and 'Empty' in out + err and
             'fault code 1)' in out + err, out + err)
        st, out, err = run([xmlrpc_cli, url, '-username', 'cli', '-password', 'wrong', 'number_of_objects'])
        t.ok('xmlrpc CLI: a wrong password is refused (401)', st != 0 and '401' in out + err, out + err)
        st, out, err = run([xmlrpc_cli, url] + auth + ['system.methodHelp', 's/create'])
        t.ok('xmlrpc CLI: system.methodHelp', st == 0 and 'create(typeid' in out, out + err)

        # -- the C example client (xmlrpc-c's client library)
        st, out, err = run([example, url, 'get_queue', 'hello from C'])
        t.ok('C example client runs every step', st == 0 and 'all steps ok' in out, out + err)
        q = pm.get_queue()
        t.eq('a pickle client gets what the C client put', q.get(timeout=5), 'hello from C')

        # -- Perl and Node: every value type, faults
        st, out, err = run([perl, os.path.join(HERE, 'perl_client.pl'), url, 'demo'])
        t.ok('Perl client ran', st == 0, err[-2000:])
        check_demo(t, 'Perl', out, url, pm)
        st, out, err = run([node, os.path.join(HERE, 'node_client.js'), url, 'demo'])
        t.ok('Node client ran', st == 0, err[-2000:])
        check_demo(t, 'Node', out, url, pm)

        # -- no ident looks like a number to Perl, whose RPC::XML sends a
        # str that does as an <int>/<i8> (1 ident in about 175 did, when
        # they began with 8 or 9: the Perl steps above then failed with
        # fault 4 'no object with id ?' now and then)
        idents = [pm.Queue()._token.id for _ in range(300)]
        st, out, err = run([perl, '-MScalar::Util=looks_like_number', '-e',
                            'print scalar(grep { looks_like_number($_) } @ARGV), "\\n"'] + idents)
        t.ok('300 idents: none looks like a number to Perl (%s)' % out.strip(),
             st == 0 and out.strip() == '0', err)
        t.ok('... as each begins with a letter no number begins with',
             all(len(i) == 12 and i[0] in 'abcdf' for i in idents), repr(idents[:3]))

        # -- the crossing test
        pq = pm.Queue()                         # a pickle client creates a Queue
        ident = pq._token.id
        items = ['perl %d' % i for i in range(3)] + [u'perl \u00e9\u20ac']
        st, out, err = run([perl, os.path.join(HERE, 'perl_client.pl'), url, 'put', ident] + items)
        t.ok('cross: Perl puts into the pickle client\'s Queue over HTTP', st == 0, out + err)
        t.eq('cross: the pickle client sees the size', pq.qsize(), len(items))
        st, out, err = run([node, os.path.join(HERE, 'node_client.js'), url, 'get', ident, str(len(items))])
        got = json.loads(out) if st == 0 and out.strip() else None
        t.eq('cross: Node gets them over HTTP, in order', got, items)
        # a Python xmlrpclib manager client, on the xmlrpclib listener, checks it is empty
        xaddr = md.tcp(1)
        xm = SyncManager(address=xaddr, authkey=KEY, serializer='xmlrpclib')
        xm.connect()
        # (exposed given: get_methods would send the Token, which XML-RPC cannot carry)
        xq = AutoProxy(Token('Queue', xaddr, ident), 'xmlrpclib', manager=xm, authkey=KEY,
                       exposed=('empty', 'qsize', 'get_nowait'))
        t.eq('cross: an xmlrpclib client sees the Queue empty', xq.empty(), True)
        t.eq('cross: ... qsize 0', xq.qsize(), 0)
        try:
            xq.get_nowait()
            t.ok('cross: get_nowait on empty', False, 'no error')
        except Exception as e:
            t.ok('cross: xmlrpclib get_nowait raises RemoteError naming Empty',
                 type(e).__name__ == 'RemoteError' and 'Empty' in e.args[0], repr(e))
        # and the xmlrpclib client reads what Perl and Node left in the shared dict
        xx = AutoProxy(Token('dict', xaddr, x._token.id), 'xmlrpclib', manager=xm, authkey=KEY,
                       exposed=('__getitem__', '__setitem__', 'keys'))
        xx['from_xmlrpclib'] = [1, 2]
        t.eq('cross: a pickle client reads what an xmlrpclib client stored', x['from_xmlrpclib'], [1, 2])
        st, out, err = run([xmlrpc_cli, url] + auth + ['call', 's/get_xdict', 's/__len__'])
        t.ok('cross: ... and the CLI counts it', st == 0 and 'Integer: 2' in out, out + err)
        del xq, xx
    finally:
        for p in md.stop():
            t.ok('managerd stops cleanly', False, p)


if __name__ == '__main__':
    xtest.main_wrapper(main)
