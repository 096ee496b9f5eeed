"""bench_worker.py - one client process of the throughput benchmark.

bench_server.py forks one worker per client (serve() in a child; forking
a started interpreter costs milliseconds where starting 64 costs seconds
of CPU that would land inside the measurements), or it can be run as a
program. It is driven with one JSON command per line on its input and
answers one JSON line on its output:

  {"cmd": "prepare", "address": ADDR}  connect a stock SyncManager client to
                                       ADDR ([host, port] or a socket path),
                                       make a dict and call it once (which
                                       opens this process's long connection)
                                       -> {"ready": true}
  {"cmd": "run", "start": T0, "seconds": S}
                                       wait until time.monotonic() == T0 (the
                                       clock is system-wide, so every worker
                                       starts together), then d['k'] = i and
                                       d['k'] in a loop for S seconds
                                       -> {"calls": N, "elapsed": E}
  {"cmd": "release"}                   drop the dict and the manager
                                       -> {"released": true}
  {"cmd": "ping"}                      -> {"pong": true} (it has started)
  {"cmd": "quit"}                      exit

The authkey comes from MANAGERD_AUTHKEY.
"""
import json
import os
import sys
import time
from multiprocessing.managers import SyncManager


def serve(inp, out, authkey):
    """The command loop, until quit or end of input."""
    def reply(obj):
        out.write(json.dumps(obj) + '\n')
        out.flush()

    manager = d = None
    for line in inp:
        cmd = json.loads(line)
        if cmd['cmd'] == 'prepare':
            address = cmd['address']
            if isinstance(address, list):
                address = tuple(address)
            manager = SyncManager(address=address, authkey=authkey)
            manager.connect()
            d = manager.dict()
            d['k'] = 0
            d['k']
            reply({'ready': True})
        elif cmd['cmd'] == 'run':
            delay = cmd['start'] - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t0 = time.monotonic()
            end = t0 + cmd['seconds']
            calls = 0
            i = 0
            now = t0
            while now < end:
                d['k'] = i
                d['k']
                i += 1
                calls += 2
                now = time.monotonic()
            reply({'calls': calls, 'elapsed': now - t0})
        elif cmd['cmd'] == 'release':
            d = manager = None
            reply({'released': True})
        elif cmd['cmd'] == 'ping':
            reply({'pong': True})
        elif cmd['cmd'] == 'quit':
            return


if __name__ == '__main__':
    try:
        serve(sys.stdin, sys.stdout, os.environ['MANAGERD_AUTHKEY'].encode())
    except (KeyboardInterrupt, BrokenPipeError):
        pass
