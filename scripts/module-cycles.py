#!/usr/bin/env python3
"""Reports import cycles between the top-level modules of a crate's `src/`.

Usage: scripts/module-cycles.py [--allow FROM->TO ...] [SRC_DIR]   (default: runtime/src)

`--allow FROM->TO` leaves one known edge out of the cycle check (it is still printed,
marked as allowed), for a dependency whose removal is planned but not done yet.

A top-level module is a file `src/NAME.rs` or a folder `src/NAME/`. Module A depends on
module B when a file of A names `crate::B` (in a `use` line or a path anywhere in the
code, doc comments excluded), or names a root re-export that is defined in B (for
example `crate::Handle`, re-exported by `lib.rs` from `handle`). `super::` paths stay
inside a top-level module and are ignored, and so is test code (see `code_of`). Prints the dependency graph, then every
cycle (strongly connected component of more than one module); exits 1 if there is one.
"""
import os
import re
import sys

args = sys.argv[1:]
allowed = set()
while args and args[0] == "--allow":
    edge = args[1].split("->")
    if len(edge) != 2:
        sys.exit(f"--allow takes FROM->TO, not {args[1]!r}")
    allowed.add((edge[0].strip(), edge[1].strip()))
    args = args[2:]
src = args[0] if args else "runtime/src"

def files_of(path):
    if os.path.isfile(path):
        return [path]
    out = []
    for root, _, names in os.walk(path):
        out += [os.path.join(root, n) for n in names if n.endswith(".rs")]
    return sorted(out)

modules = {}
for name in sorted(os.listdir(src)):
    p = os.path.join(src, name)
    if name in ("lib.rs", "main.rs"):
        continue
    if name.endswith(".rs"):
        modules[name[:-3]] = files_of(p)
    elif os.path.isdir(p):
        modules[name] = files_of(p)

def code_of(path):
    """The file's non-test code without comments (doc links and tests, which may use
    any layer, do not count as dependencies). Test code is a file named `tests.rs` or
    `*_tests.rs`, or everything from a `#[cfg(test)]` (or `#[cfg(all(test, ...))]`)
    module to the end of the file, where this crate keeps its in-file tests."""
    name = os.path.basename(path)
    if name == "tests.rs" or name.endswith("_tests.rs"):
        return ""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    test = re.search(r"#\[cfg\((?:all\()?test\b[^\]]*\]\s*mod\s+\w+\s*\{", text)
    return text[: test.start()] if test else text

# Root re-exports: `pub use module::{A, B}` / `pub(crate) use module::A` in lib.rs.
root_names = {}
lib = code_of(os.path.join(src, "lib.rs"))
for m in re.finditer(r"pub(?:\([a-z]+\))?\s+use\s+(\w+)::(\{[^}]*\}|[\w:]+)\s*;", lib, flags=re.S):
    module, names = m.group(1), m.group(2)
    for n in re.findall(r"\w+", names.split("::")[-1] if "{" not in names else names):
        root_names.setdefault(n, module)
# Items defined in lib.rs itself belong to the root, not to a module.

deps = {m: set() for m in modules}
for m, files in modules.items():
    for f in files:
        code = code_of(f)
        for target in re.findall(r"\bcrate::(\w+)", code):
            owner = target if target in modules else root_names.get(target)
            if owner in modules and owner != m:
                deps[m].add(owner)
        for group in re.findall(r"\bcrate::\{([^}]*)\}", code, flags=re.S):
            for target in re.findall(r"\b(\w+)", group):
                owner = target if target in modules else root_names.get(target)
                if owner in modules and owner != m:
                    deps[m].add(owner)

for a, b in sorted(allowed):
    if b not in deps.get(a, ()):
        sys.exit(f"--allow {a}->{b}: there is no such edge (remove the --allow)")
checked = {m: {d for d in ds if (m, d) not in allowed} for m, ds in deps.items()}

# Tarjan's strongly connected components.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def strong(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in sorted(checked[v]):
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
        sccs.append(sorted(comp))

for v in sorted(deps):
    if v not in index:
        strong(v)

for m in sorted(deps):
    shown = [d + (" (allowed)" if (m, d) in allowed else "") for d in sorted(deps[m])]
    print(f"{m} -> {', '.join(shown) or '(nothing)'}")
cycles = [c for c in sccs if len(c) > 1]
if cycles:
    for c in cycles:
        print("CYCLE among:", ", ".join(c))
        for a in c:
            print(f"  {a} -> {', '.join(sorted(d for d in checked[a] if d in c))}")
    sys.exit(1)
extra = f" once {len(allowed)} allowed edge(s) are left out" if allowed else ""
print(f"no import cycle among the {len(modules)} top-level modules of {src}{extra}")
