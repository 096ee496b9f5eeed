# test_managerd.py - the managerd Python package under one Python (2.7 and
# 3.6 to 3.13): run by tests/python/run.py with MANAGERD naming the build
# tree's managerd, TMPDIR a fresh folder, and the package on PYTHONPATH
# (installed there by pip).  Every test checks that nothing is left behind:
# no managerd or watchdog process, no folder or socket under TMPDIR.
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import managerd

PY3 = sys.version_info[0] >= 3
HAS_CONTEXTS = hasattr(mp, 'get_context')
DEATH_DEADLINE = 5.0         # seconds for the daemon to follow its creator
CHILD_TIMEOUT = 60           # seconds for a child Python program


def gone(pid):
    """True when pid is no process, or a zombie waiting for its parent."""
    try:
        os.kill(pid, 0)
    except OSError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except (IOError, OSError):
        return True


def wait_gone(pids, deadline=DEATH_DEADLINE):
    end = time.time() + deadline
    while time.time() < end and not all(gone(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if not gone(p)]


def pids_of(m):
    return [m._managerd.pid, m._managerd._proc.pid]


def leftovers():
    return sorted(n for n in os.listdir(tempfile.gettempdir()) if n.startswith('managerd-'))


def run_python(code, *args, **kwds):
    """Run code in a new interpreter (in a process group of its own with
    own_group=True); return (status, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=os.setpgrp if kwds.get('own_group') else None)
    timer = threading.Timer(CHILD_TIMEOUT, proc.kill)
    timer.start()
    out, err = proc.communicate()
    timer.cancel()
    return proc.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')


# ---- workers (module level: spawn children import them) ----------------------

def fill(d, q, lock, key):
    with lock:
        d[key] = key * 2
    q.put(key)
    return key


def fill_args(args):
    return fill(*args)


def start_methods():
    if not HAS_CONTEXTS:
        return [None]
    return [m for m in ('fork', 'spawn', 'forkserver') if m in mp.get_all_start_methods()]


def context(method):
    return mp.get_context(method) if method else mp


class Base(unittest.TestCase):
    def tearDown(self):
        self.assertEqual(leftovers(), [], 'a private folder was left in TMPDIR')


class TestLifecycle(Base):
    def test_start_and_shutdown_remove_daemon_and_folder(self):
        m = managerd.Manager()
        pids = pids_of(m)
        folder = os.path.dirname(m.address)
        self.assertTrue(folder.startswith(tempfile.gettempdir()), folder)
        self.assertTrue(os.path.exists(m.address))
        self.assertEqual(oct(os.stat(folder).st_mode & 0o777), oct(0o700))
        self.assertTrue(m._process.is_alive())
        m.shutdown()
        self.assertFalse(os.path.exists(folder))
        self.assertEqual(wait_gone(pids, 0.5), [])
        self.assertFalse(m._process.is_alive())

    def test_context_manager(self):
        with managerd.Manager() as m:
            d = m.dict(a=1)
            self.assertEqual(d.copy(), {'a': 1})
            pids = pids_of(m)
        self.assertEqual(wait_gone(pids, 0.5), [])

    def test_authkey_is_current_process_key(self):
        with managerd.Manager() as m:
            self.assertEqual(bytes(m._authkey), bytes(mp.current_process().authkey))

    def test_authkey_ending_in_newline(self):
        key = b'\x00\xffkey with a newline\n'
        with managerd.Manager(authkey=key) as m:
            other = managerd.connect(m.address, key)
            self.assertEqual(other.list([1, 2])[:], [1, 2])

    def test_concurrent_managers_are_independent(self):
        with managerd.Manager() as a:
            with managerd.Manager() as b:
                self.assertNotEqual(a.address, b.address)
                da, db = a.dict(), b.dict()
                da['k'] = 'a'
                db['k'] = 'b'
                self.assertEqual((da['k'], db['k']), ('a', 'b'))
                b_pids = pids_of(b)
            self.assertEqual(wait_gone(b_pids, 0.5), [])
            self.assertEqual(da['k'], 'a')

    def test_manager_made_in_a_thread_outlives_the_thread(self):
        box = []
        t = threading.Thread(target=lambda: box.append(managerd.Manager()))
        t.start()
        t.join()
        m = box[0]
        time.sleep(0.3)
        self.assertEqual(m.list(range(3))[:], [0, 1, 2])
        m.shutdown()

    def test_abstract_address(self):
        name = '\0managerd-test-%d' % os.getpid()
        with managerd.Manager(address=name) as m:
            self.assertEqual(m.address, name)
            self.assertEqual(m.Value('i', 7).value, 7)

    def test_tcp_port_zero_gets_the_bound_port(self):
        with managerd.Manager(address=('127.0.0.1', 0)) as m:
            host, port = m.address
            self.assertEqual(host, '127.0.0.1')
            self.assertNotEqual(port, 0)
            d, q, lock = m.dict(), m.Queue(), m.Lock()
            p = mp.Process(target=fill, args=(d, q, lock, 5))
            p.start()
            p.join(CHILD_TIMEOUT)
            self.assertEqual(d.copy(), {5: 10})
            self.assertEqual(q.get(timeout=5), 5)

    def test_sigchld_ignored_by_the_program(self):
        old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        try:
            m = managerd.Manager()
            pids = pids_of(m)
            self.assertEqual(m.list([1])[:], [1])
            m.shutdown()
            self.assertEqual(wait_gone(pids), [])
        finally:
            signal.signal(signal.SIGCHLD, old)

    def test_watchdog_is_a_shell_not_a_copy_of_the_program(self):
        with managerd.Manager() as m:
            wd = m._managerd._proc.pid
            end = time.time() + DEATH_DEADLINE
            while True:              # Manager() does not wait for its exec
                with open('/proc/%d/cmdline' % wd, 'rb') as f:
                    argv = f.read().split(b'\0')
                if argv[0] or time.time() > end:
                    break
                time.sleep(0.01)
            self.assertEqual(argv[0], managerd._daemon.SHELL.encode())
            self.assertIn(b'managerd-watchdog', argv)
            self.assertNotEqual(os.path.realpath('/proc/%d/exe' % wd),
                                os.path.realpath(sys.executable))
            self.assertEqual(m.list([1])[:], [1])

    def test_managerd_is_our_child_and_shutdown_reaps_it(self):
        m = managerd.Manager()
        with open('/proc/%d/stat' % m._managerd.pid) as f:
            ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        self.assertEqual(ppid, os.getpid())
        m.shutdown()
        for pid in pids_of(m):    # reaped: no zombie left for us to wait for
            self.assertRaises(OSError, os.waitpid, pid, os.WNOHANG)

    def test_watchdog_terminated_stops_the_daemon_and_cleans_up(self):
        m = managerd.Manager()
        folder = os.path.dirname(m.address)
        self.assertEqual(m.list([1])[:], [1])
        time.sleep(0.2)          # the watchdog starts beside managerd: let it set its traps
        os.kill(m._managerd._proc.pid, signal.SIGTERM)
        self.assertEqual(wait_gone(pids_of(m)), [])
        end = time.time() + DEATH_DEADLINE
        while os.path.exists(folder) and time.time() < end:
            time.sleep(0.02)
        self.assertFalse(os.path.exists(folder))
        m.shutdown()

    def test_program_fds_do_not_reach_the_daemon(self):
        r, w = os.pipe()
        if hasattr(os, 'set_inheritable'):
            os.set_inheritable(w, True)      # as every fd is on 2.7
        mine = os.readlink('/proc/self/fd/%d' % w)
        try:
            with managerd.Manager() as m:
                for pid in pids_of(m):
                    links = []
                    for fd in os.listdir('/proc/%d/fd' % pid):
                        try:
                            links.append(os.readlink('/proc/%d/fd/%s' % (pid, fd)))
                        except OSError:
                            pass             # closed while we looked
                    self.assertNotIn(mine, links, pid)
        finally:
            os.close(r)
            os.close(w)

    def test_shutdown_twice_and_start_twice(self):
        m = managerd.Manager()
        self.assertRaises(mp.ProcessError, m.start)
        m.shutdown()
        m.shutdown()


class TestTypeids(Base):
    def test_every_typeid(self):
        with managerd.Manager() as m:
            d = m.dict({'a': 1})
            d['b'] = 2
            self.assertEqual(sorted(d.items()), [('a', 1), ('b', 2)])
            lst = m.list([3, 1, 2])
            lst.sort()
            self.assertEqual(lst[:], [1, 2, 3])
            q = m.Queue()
            q.put('x')
            self.assertEqual(q.get(timeout=5), 'x')
            jq = m.JoinableQueue()
            jq.put(1)
            jq.get()
            jq.task_done()
            jq.join()
            for lock in (m.Lock(), m.RLock(), m.Semaphore(2), m.BoundedSemaphore(1)):
                self.assertTrue(lock.acquire())
                lock.release()
            self.assertRaises(ValueError, m.BoundedSemaphore(1).release)
            cond = m.Condition()
            with cond:
                self.assertFalse(cond.wait(0.01))
            ev = m.Event()
            ev.set()
            self.assertTrue(ev.wait(1))
            v = m.Value('d', 1.5)
            v.value += 1
            self.assertEqual(v.value, 2.5)
            arr = m.Array('i', [1, 2, 3])
            self.assertEqual(len(arr), 3)
            ns = m.Namespace(x=1)
            ns.y = 2
            self.assertEqual((ns.x, ns.y), (1, 2))
            if hasattr(m, 'Barrier'):
                self.assertEqual(m.Barrier(1).wait(), 0)
            if hasattr(managerd.SyncManager, 'set'):
                self.assertEqual(sorted(m.set([2, 1])), [1, 2])
            self.assertEqual(sorted(iter(d)), ['a', 'b'])

    def test_pool_refused_naming_pool(self):
        with managerd.Manager() as m:
            try:
                m.Pool(2)
            except managerd.UnsupportedError as e:
                self.assertIn('Pool', str(e))
            else:
                self.fail('Pool was not refused')

    def test_register_callable_refused(self):
        class MyManager(managerd.SyncManager):
            pass
        try:
            MyManager.register('thing', dict)
        except managerd.UnsupportedError as e:
            self.assertIn('thing', str(e))
            self.assertIn('never runs Python code', str(e))
        else:
            self.fail('a callable was accepted')

    def test_share_and_register_typeids(self):
        with managerd.Manager(share={'get_queue': 'Queue'}, register={'make_dict': 'dict'}) as m:
            m.get_queue().put('hello')
            self.assertEqual(m.make_dict().copy(), {})

            class QueueManager(managerd.BaseManager):
                pass
            QueueManager.register('get_queue')
            remote = QueueManager(address=m.address, authkey=m._authkey)
            remote.connect()
            self.assertEqual(remote.get_queue().get(timeout=5), 'hello')

    def test_base_manager_share_and_start(self):
        class QueueManager(managerd.BaseManager):
            pass
        QueueManager.share('get_queue', 'Queue')
        m = QueueManager()
        m.start()
        m.get_queue().put(1)
        self.assertEqual(m.get_queue().get(timeout=5), 1)
        m.shutdown()


class TestChildren(Base):
    def check_proxies(self, m, d, q, keys):
        self.assertEqual(sorted(d.keys()), sorted(keys))
        self.assertEqual(sorted(q.get(timeout=10) for _ in keys), sorted(keys))

    def test_process(self):
        for method in start_methods():
            ctx = context(method)
            with managerd.Manager() as m:
                d, q, lock = m.dict(), m.Queue(), m.Lock()
                procs = [ctx.Process(target=fill, args=(d, q, lock, k)) for k in (1, 2)]
                for p in procs:
                    p.start()
                for p in procs:
                    p.join(CHILD_TIMEOUT)
                    self.assertEqual(p.exitcode, 0, method)
                self.check_proxies(m, d, q, [1, 2])

    def test_pool(self):
        for method in start_methods():
            ctx = context(method)
            with managerd.Manager() as m:
                d, q, lock = m.dict(), m.Queue(), m.Lock()
                pool = ctx.Pool(2)
                try:
                    got = pool.map(fill_args, [(d, q, lock, k) for k in range(4)])
                finally:
                    pool.close()
                    pool.join()
                self.assertEqual(sorted(got), list(range(4)))
                self.check_proxies(m, d, q, list(range(4)))

    @unittest.skipUnless(PY3, 'concurrent.futures is Python 3')
    def test_process_pool_executor(self):
        from concurrent.futures import ProcessPoolExecutor
        for method in start_methods():
            kwargs = {'mp_context': context(method)} if sys.version_info >= (3, 7) else {}
            with managerd.Manager() as m:
                d, q, lock = m.dict(), m.Queue(), m.Lock()
                with ProcessPoolExecutor(2, **kwargs) as ex:
                    got = list(ex.map(fill_args, [(d, q, lock, k) for k in range(3)]))
                self.assertEqual(sorted(got), list(range(3)))
                self.check_proxies(m, d, q, list(range(3)))


# A program that makes a Manager, reports pids and address, then ends in the
# way argv[1] names.
ENDINGS = '''
import os, signal, sys, managerd
m = managerd.Manager()
d = m.dict()
sys.stdout.write('%d %d %s\\n' % (m._managerd.pid, m._managerd._proc.pid, m.address))
sys.stdout.flush()
how = sys.argv[1]
if how == 'exit':
    pass
elif how == 'shutdown':
    m.shutdown()
elif how == 'exception':
    raise RuntimeError('boom')
elif how == '_exit':
    os._exit(0)
elif how == 'sigkill':
    os.kill(os.getpid(), signal.SIGKILL)
'''


class TestEndings(Base):
    def check_ending(self, how):
        status, out, err = run_python(ENDINGS, how)
        lines = out.splitlines()
        self.assertEqual(len(lines), 1, (how, out, err))   # nothing of managerd's
        md_pid, wd_pid, address = lines[0].split(' ', 2)
        self.assertEqual(wait_gone([int(md_pid), int(wd_pid)]), [], how)
        self.assertFalse(os.path.exists(os.path.dirname(address)), how)
        return status, err

    def test_program_end_without_shutdown(self):
        self.assertEqual(self.check_ending('exit')[0], 0)

    def test_program_end_after_shutdown(self):
        self.assertEqual(self.check_ending('shutdown')[0], 0)

    def test_program_end_by_exception(self):
        status, err = self.check_ending('exception')
        self.assertEqual(status, 1)
        self.assertIn('boom', err)

    def test_program_end_by_os_exit(self):
        self.assertEqual(self.check_ending('_exit')[0], 0)

    def test_daemon_dies_with_creator_killed_by_sigkill(self):
        self.assertEqual(self.check_ending('sigkill')[0], -signal.SIGKILL)


CTRL_C = '''
import os, signal, sys, time, managerd
m = managerd.Manager()
q = m.Queue()
signal.signal(signal.SIGINT, lambda *a: sys.stdout.write('interrupted\\n'))
os.killpg(os.getpgrp(), signal.SIGINT)    # what Ctrl-C in a terminal does
time.sleep(0.5)
q.put('still served')
print(q.get(timeout=5))
'''


class TestSignals(Base):
    def test_ctrl_c_reaches_the_program_not_the_daemon(self):
        status, out, err = run_python(CTRL_C, own_group=True)
        self.assertEqual((status, out), (0, 'interrupted\nstill served\n'), err)


class TestFinding(Base):
    def test_managerd_variable_names_a_missing_file(self):
        code = ('import os, managerd\nos.environ["MANAGERD"] = "/nonexistent/managerd"\n'
                'try:\n    managerd.Manager()\nexcept managerd.ManagerdError as e:\n    print(e)\n')
        status, out, err = run_python(code)
        self.assertEqual(status, 0, err)
        self.assertIn('MANAGERD=/nonexistent/managerd', out)

    def test_no_managerd_anywhere_says_how_to_get_one(self):
        code = ('import os, managerd\nos.environ.pop("MANAGERD")\nos.environ["PATH"] = "/nonexistent"\n'
                'managerd._daemon._INSTALLED_BINDIR = None\n'
                'try:\n    managerd.Manager()\nexcept managerd.ManagerdError as e:\n    print(e)\n')
        status, out, err = run_python(code)
        self.assertEqual(status, 0, err)
        self.assertIn('set MANAGERD', out)
        self.assertIn('make install', out)

    def test_managerd_on_path(self):
        folder = os.path.dirname(os.path.abspath(os.environ['MANAGERD']))
        code = ('import os, managerd\nos.environ.pop("MANAGERD")\n'
                'os.environ["PATH"] = %r\nprint(managerd.find_managerd())\n' % folder)
        status, out, err = run_python(code)
        self.assertEqual(status, 0, err)
        self.assertEqual(out.strip(), os.path.join(folder, 'managerd'))

    def run_failing_daemon(self, script, address=None):
        """Run a Manager() on a fake managerd (script) and use it: the
        error printed, and what is left in its TMPDIR."""
        folder = tempfile.mkdtemp(prefix='fake-')
        fake = os.path.join(folder, 'managerd')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\n' + script)
        os.chmod(fake, 0o755)
        code = ('import os, sys, tempfile, managerd\nos.environ["MANAGERD"] = %r\n'
                'tempfile.tempdir = %r\n'
                'm = None\n'
                'for attempt in range(2):\n'
                '    try:\n        m = m or managerd.Manager(address=%r)\n        m.dict()\n'
                '    except managerd.ManagerdError as e:\n        print(e)\n'
                '    else:\n        sys.exit(3)\n' % (fake, folder, address))
        try:
            status, out, err = run_python(code)
            left = [n for n in os.listdir(folder) if n != 'managerd']
        finally:
            os.unlink(fake)
            for n in os.listdir(folder):
                os.rmdir(os.path.join(folder, n))
            os.rmdir(folder)
        self.assertEqual(status, 0, err)
        return out, left

    def test_a_daemon_that_fails_is_reported_with_its_output(self):
        out, left = self.run_failing_daemon('echo "fake managerd: cannot listen" >&2\nexit 1\n')
        # Each use says so, with managerd's output (read once).
        self.assertEqual(out.count('managerd did not start: fake managerd: cannot listen'), 2, out)
        self.assertEqual(left, [])

    def test_a_daemon_that_exits_silently_is_reported_at_first_use(self):
        out, left = self.run_failing_daemon('exit 1\n')
        self.assertEqual(out.count('managerd did not start: managerd exited with status 1'), 2, out)
        self.assertEqual(left, [])

    def test_a_daemon_that_fails_on_an_abstract_address_is_reported(self):
        out, left = self.run_failing_daemon('echo "fake: no" >&2\nexit 1\n',
                                            '\0managerd-test-%d' % os.getpid())
        self.assertEqual(out.count('managerd did not start: fake: no'), 2, out)

    def test_managerd_installed_beside_the_package(self):
        folder = os.path.dirname(os.path.abspath(os.environ['MANAGERD']))
        code = ('import os, managerd\nos.environ.pop("MANAGERD")\nos.environ["PATH"] = "/nonexistent"\n'
                'managerd._daemon._INSTALLED_BINDIR = %r\nm = managerd.Manager()\n'
                'print(m.list([5])[0])\nm.shutdown()\n' % folder)
        status, out, err = run_python(code)
        self.assertEqual((status, out), (0, '5\n'), err)


if __name__ == '__main__':
    if HAS_CONTEXTS and sys.version_info >= (3, 4):
        mp.set_start_method('fork')    # tests choose their context explicitly
    unittest.main(verbosity=2)
