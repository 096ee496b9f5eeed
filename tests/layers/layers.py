#!/usr/bin/env python3
"""Which file of the build uses which: read from the object files' symbol
tables (nm), folded to files and to folders, with every cycle printed.

    layers.py BUILD_DIR [--check] [--order]

--check exits 1 when two folders use each other (directly or around a
cycle) or when a cycle of files spans two folders (issue 9's rule); --order
prints the folders in dependency order (a folder may use those above it)."""
import os
import re
import subprocess
import sys


def source_dir(build):
    with open(os.path.join(build, 'Makefile')) as f:
        for line in f:
            if line.startswith('abs_top_srcdir = '):
                return line.split('=', 1)[1].strip()
    return build


def object_files(build):
    """The objects of managerd's libraries and programs, keyed by source
    (objects whose source is gone, left by a move, are not counted)."""
    top = source_dir(build)
    objs = {}
    for root, dirs, files in os.walk(build):
        if '.libs' in root or os.sep + 'tests' in root[len(build):]:
            continue
        for f in files:
            if not f.endswith('.o'):
                continue
            m = re.match(r'(?:[a-z_]+[-_]la-|[a-z_]+-)?(.+)\.o$', f)
            if '-' not in f:
                continue
            src = os.path.relpath(os.path.join(root, m.group(1) + '.c'), build)
            if os.path.exists(os.path.join(top, src)):
                objs[src] = os.path.join(root, f)
    return objs


def symbols(path):
    out = subprocess.run(['nm', path], capture_output=True, text=True,
                         check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == 'U':
            used.add(parts[1])
        elif len(parts) == 3 and parts[1] in 'TDBRCGSV':
            defined.add(parts[2])
    return defined, used


def file_graph(objs):
    owner, uses = {}, {}
    for src, obj in objs.items():
        d, u = symbols(obj)
        for s in d:
            owner.setdefault(s, set()).add(src)
        uses[src] = u
    graph = {src: set() for src in objs}
    for src, u in uses.items():
        for s in u:
            for o in owner.get(s, ()):
                if o != src:
                    graph[src].add(o)
    return graph


# The layers, lowest first: a folder may use its own files and those of the
# folders before it, never one after it (README, "Layout").
ORDER = ['core/base', 'core/value', 'core/protocol', 'serializers', 'transports/wire', 'core',
         'core/types', 'core/disp', 'transports', 'core/daemon', 'clients']


def folder(src):
    return os.path.dirname(src)


INCLUDE = re.compile(r'\s*#\s*include\s+"([^"]+/[^"]+)"')


def upward_includes(top):
    """Headers are uses too: a file may include headers of its own folder
    and of the folders before it."""
    out = []
    for f in ORDER:
        d = os.path.join(top, f)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(('.c', '.h')):
                continue
            with open(os.path.join(d, name), errors='replace') as fh:
                for line in fh:
                    m = INCLUDE.match(line)
                    b = m and os.path.dirname(m.group(1))
                    if b in ORDER and ORDER.index(b) > ORDER.index(f):
                        out.append('%s/%s includes %s' % (f, name, m.group(1)))
    return out


def sccs(graph):
    """Tarjan's strongly connected components, iteratively."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def main():
    build = sys.argv[1]
    check = '--check' in sys.argv
    graph = file_graph(object_files(build))
    fgraph = {}
    for src, deps in graph.items():
        fgraph.setdefault(folder(src), set())
        for d in deps:
            if folder(d) != folder(src):
                fgraph[folder(src)].add(folder(d))
    bad = 0
    for comp in sccs(fgraph):
        if len(comp) > 1:
            bad += 1
            print('folder cycle: ' + ' <-> '.join(comp))
            for a in comp:
                for src in sorted(graph):
                    if folder(src) != a:
                        continue
                    for d in sorted(graph[src]):
                        if folder(d) in comp and folder(d) != a:
                            print('   %s uses %s' % (src, d))
    for comp in sccs(graph):
        if len(comp) > 1 and len({folder(c) for c in comp}) > 1:
            bad += 1
            print('file cycle across folders: ' + ' '.join(comp))
    for src in sorted(graph):
        for d in sorted(graph[src]):
            a, b = folder(src), folder(d)
            if a not in ORDER or b not in ORDER:
                bad += 1
                print('folder not in ORDER: %s' % (a if a not in ORDER else b))
            elif ORDER.index(b) > ORDER.index(a):
                bad += 1
                print('upward use: %s uses %s' % (src, d))
    for line in upward_includes(source_dir(build)):
        bad += 1
        print('upward include: ' + line)
    if '--order' in sys.argv and not bad:
        done = []
        while len(done) < len(fgraph):
            for f in sorted(fgraph):
                if f not in done and fgraph[f] <= set(done):
                    done.append(f)
                    print('%-22s uses %s' % (f, ', '.join(sorted(fgraph[f]))
                                             or '(nothing of managerd)'))
    if check and bad:
        sys.exit(1)


if __name__ == '__main__':
    main()
