#!/usr/bin/env python3
"""Import graph of one Rust crate's modules, and its cycles.

Usage: .ci/modgraph.py CRATE_SRC_DIR [--edges]    (exits 1 on a cycle; .ci/run checks every crate)

Nodes are modules (one per .rs file, `mod.rs` names its folder). An edge A -> B
means A's code names `crate::B...` or `super::...` resolving to B. Edges from a
module to its own descendants are ignored (declaring or re-exporting a child is
not a dependency), and `#[cfg(test)]` test files (`tests/`, `*_tests.rs`) are left
out. Prints the strongly connected components with more than one module: those
are the import cycles.
"""
import os
import re
import sys


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def main():
    src = sys.argv[1]
    show = "--edges" in sys.argv
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if not n.endswith(".rs"):
                continue
            p = os.path.join(root, n)
            if "/tests/" in p or n.endswith("_tests.rs") or n == "main.rs" or "/bin/" in p:
                continue
            files[module_of(src, p)] = p
    mods = set(files)

    def resolve(parts):
        # Longest prefix that is a module.
        for k in range(len(parts), 0, -1):
            if tuple(parts[:k]) in mods:
                return tuple(parts[:k])
        return None

    path_re = re.compile(r"\b((?:crate|super)(?:::(?:self|super|[A-Za-z_][A-Za-z0-9_]*|\{[^}]*\}))+)")
    edges = {m: set() for m in mods}
    for m, p in files.items():
        text = open(p, encoding="utf-8").read()
        # Drop inline test modules: they may name anything.
        cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
        if cut:
            text = text[: cut.start()]
        text = re.sub(r"//[^\n]*", "", text)
        for hit in path_re.finditer(text):
            segs = hit.group(1).split("::")
            if segs[0] == "crate":
                base, rest = [], segs[1:]
            else:
                base = list(m)
                if not p.endswith("mod.rs") and not p.endswith("lib.rs"):
                    base = base[:-1]
                rest = segs[1:]
                while rest and rest[0] == "super":
                    base = base[:-1]
                    rest = rest[1:]
            expanded = []
            for s in rest:
                if s.startswith("{"):
                    break
                expanded.append(s)
            target = resolve(base + expanded) or resolve(base)
            if target is None or target == m:
                continue
            if target[: len(m)] == m:  # descendant
                continue
            edges[m].add(target)
    # Tarjan's SCC.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(mods):
        if v not in index:
            strong(v)
    name = lambda t: "::".join(t) or "crate"
    if show:
        for m in sorted(mods):
            print(f"{name(m)} -> {', '.join(sorted(name(t) for t in edges[m]))}")
    cycles = [c for c in sccs if len(c) > 1]
    print(f"{len(mods)} modules, {sum(len(e) for e in edges.values())} edges, {len(cycles)} cycles")
    for c in cycles:
        print("cycle: " + " <-> ".join(sorted(name(t) for t in c)))
    sys.exit(1 if cycles else 0)


if __name__ == "__main__":
    main()
