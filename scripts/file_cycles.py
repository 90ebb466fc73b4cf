#!/usr/bin/env python3
"""Call cycles between the files of one module, from the object files.

Usage: scripts/file_cycles.py OBJ_DIR [OBJ_DIR...]
  e.g. scripts/file_cycles.py build/services/CMakeFiles/coin_monitor.dir/monitor

File A depends on file B when A references a symbol B defines (nm: U in A,
T/D/B/R in B). Prints each strongly connected group of two or more files
(a cycle) with the symbols that close it; exits 1 when there is one.
"""
import glob
import os
import subprocess
import sys


def symbols(obj):
    out = subprocess.run(["nm", "-g", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRC":
            defined.add(parts[2])
    return defined, used


def sccs(nodes, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            out.append(group)

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main(dirs):
    found = False
    for d in dirs:
        objs = sorted(glob.glob(os.path.join(d, "*.o")))
        if not objs:
            print(f"{d}: no object files (build first)", file=sys.stderr)
            return 2
        names = [os.path.basename(o)[:-2] for o in objs]  # x.c.o -> x.c
        info = {n: symbols(o) for n, o in zip(names, objs)}
        edges = {n: set() for n in names}
        why = {}
        for a in names:
            for b in names:
                if a != b:
                    common = info[a][1] & info[b][0]
                    if common:
                        edges[a].add(b)
                        why[(a, b)] = sorted(common)
        groups = [g for g in sccs(names, edges) if len(g) > 1]
        if not groups:
            print(f"{d}: {len(names)} files, no cycle")
        for g in groups:
            found = True
            print(f"{d}: cycle among {', '.join(sorted(g))}")
            for a in sorted(g):
                for b in sorted(edges[a] & set(g)):
                    print(f"  {a} -> {b}: {', '.join(why[(a, b)][:4])}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
