#!/usr/bin/env python3
"""Reports import cycles between the top-level modules of a crate's `src/`.

Usage (from any directory; SRC_DIR defaults to this workspace's runtime/src):

    python3 scripts/module-cycles.py [--allow FROM->TO ...] [SRC_DIR]

`--allow FROM->TO` leaves one known edge out of the cycle check (it is still printed,
marked as allowed), for a dependency whose removal is planned but not done yet; an
`--allow` naming an edge that does not exist is an error, so stale ones get removed.

A top-level module is a file `src/NAME.rs` or a folder `src/NAME/`. Module A depends on
module B when a file of A names `crate::B` (in a `use` line, a `crate::{..}` group,
nested groups included, or a path anywhere in the code), or names a root re-export
that is defined in B (for example `crate::Handle`, re-exported by `lib.rs` from
`runtime`; a name the module itself re-exports from another crate, such as
`crate::JoinHandle` from `kairos_rt_core`, is no dependency on it). The items defined in `lib.rs` itself (free functions such as `with_current`
and `spawn`) are one more node, `lib.rs`: a module that names one of them depends on
it, and it depends on the modules its own code names (its `mod` and `use` lines, and
the inline modules that only re-export, are declarations, not dependencies), so no
module can hide an upward dependency behind a root function.

Comments (doc comments included), `super::` paths (which stay inside a top-level
module) and test code (see `code_of`) do not count.

Prints the dependency graph, then every cycle (strongly connected component of more
than one node) with its edges. Exit status: 0 no cycle, 1 a cycle, 2 bad arguments.
"""
import os
import re
import sys

ROOT = "lib.rs"  # the node of the items defined in lib.rs itself


def usage_error(message):
    print(f"{message}; see --help", file=sys.stderr)
    sys.exit(2)


args = sys.argv[1:]
if args and args[0] in ("-h", "--help"):
    print(__doc__.strip())
    sys.exit(0)
allowed = set()
while args and args[0] == "--allow":
    if len(args) < 2:
        usage_error("--allow takes FROM->TO")
    edge = args[1].split("->")
    if len(edge) != 2:
        usage_error(f"--allow takes FROM->TO, not {args[1]!r}")
    allowed.add((edge[0].strip(), edge[1].strip()))
    args = args[2:]
if len(args) > 1 or (args and args[0].startswith("-")):
    usage_error(f"unexpected arguments {args!r}")
here = os.path.dirname(os.path.abspath(__file__))
src = args[0] if args else os.path.normpath(os.path.join(here, "..", "runtime", "src"))
if not os.path.isfile(os.path.join(src, "lib.rs")):
    usage_error(f"{src} has no lib.rs: give a crate's src/ folder")


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


def brace_groups(code):
    """The inside of every `crate::{ .. }` group, nested braces included."""
    out = []
    for m in re.finditer(r"\bcrate::\{", code):
        depth, i = 1, m.end()
        while i < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        out.append(code[m.end() : i - 1])
    return out


# Root re-exports: `pub use module::{A, B}` / `pub(crate) use module::A` in lib.rs.
root_names = {}
lib = code_of(os.path.join(src, "lib.rs"))
for m in re.finditer(r"pub(?:\([a-z]+\))?\s+use\s+(\w+)::(\{[^}]*\}|[\w:]+)\s*;", lib, flags=re.S):
    module, names = m.group(1), m.group(2)
    for n in re.findall(r"\w+", names.split("::")[-1] if "{" not in names else names):
        root_names.setdefault(n, module)
def external_reexports(module):
    """Names that a module's entry file (`NAME.rs` or `NAME/mod.rs`) re-exports from
    another crate (`pub use kairos_rt_core::task::JoinHandle`): a root re-export of
    such a name through the module is no dependency on the module."""
    entry = os.path.join(src, module + ".rs")
    if not os.path.isfile(entry):
        entry = os.path.join(src, module, "mod.rs")
    if not os.path.isfile(entry):
        return set()
    code = code_of(entry)
    local = set(re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+(\w+)", code, flags=re.M))
    local |= {"crate", "self", "super"}
    out = set()
    for m in re.finditer(r"pub(?:\([a-z]+\))?\s+use\s+(\w+)::([^;]*);", code, flags=re.S):
        if m.group(1) not in local:
            last = m.group(2).split("::")[-1] if "{" not in m.group(2) else m.group(2)
            out |= set(re.findall(r"\w+", last))
    return out


for n, module in list(root_names.items()):
    if module in modules and n in external_reexports(module):
        del root_names[n]
# Items defined in lib.rs itself belong to the ROOT node.
item = r"^(?:pub(?:\([a-z]+\))?\s+)?(?:fn|const|static|struct|enum|trait|type)\s+(\w+)"
for n in re.findall(item, lib, flags=re.M):
    root_names[n] = ROOT

deps = {m: set() for m in modules}
deps[ROOT] = set()
for m, files in modules.items():
    for f in files:
        code = code_of(f)
        targets = re.findall(r"\bcrate::(\w+)", code)
        for group in brace_groups(code):
            targets += re.findall(r"\b(\w+)", group)
        for target in targets:
            owner = target if target in modules else root_names.get(target)
            if owner in deps and owner != m:
                deps[m].add(owner)

# lib.rs's own code without its declarations: a path that starts `module::..`, `crate::module` or
# a re-exported type name (`Handle`) is a dependency of the ROOT node.
root_code = re.sub(r"^(?:pub(?:\([a-z]+\)\s*)?\s+)?mod\s+\w+\s*\{.*?^\}", "", lib, flags=re.M | re.S)
root_code = re.sub(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?(?:use\s[^;]*;|mod\s+\w+\s*;)", "", root_code, flags=re.M)
words = set(re.findall(r"(?<![\w:])(\w+)::", root_code)) | set(re.findall(r"\bcrate::(\w+)", root_code))
words |= set(re.findall(r"\b([A-Z]\w*)\b", root_code))
for word in words:
    owner = word if word in modules else root_names.get(word)
    if owner in modules:
        deps[ROOT].add(owner)

for a, b in sorted(allowed):
    if b not in deps.get(a, ()):
        usage_error(f"--allow {a}->{b}: there is no such edge (remove the --allow)")
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
print(f"no import cycle among the {len(modules)} top-level modules of {src} and its lib.rs{extra}")
