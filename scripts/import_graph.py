"""Measure the shape of src/omnidex: import cycles, private cross-module imports, largest functions, layer violations.

Reads the source with ``ast`` only (nothing is imported), so it runs on any checkout in well under a second:

    python scripts/import_graph.py                       # table on stdout
    python scripts/import_graph.py --json out.json       # and the same figures as JSON

Figures:

- ``cycles``: strongly connected components of the module import graph with more than one module
  (every import counts, also those inside functions: a lazy import still ties two modules together).
- ``private_imports``: ``from omnidex.x import _name`` (or ``import omnidex.x`` then ``x._name``
  is not tracked) where ``_name`` is defined in another module; dunder names are not private.
- ``private_reaches``: ``obj._name`` on anything but ``self``/``cls`` (a facade reaching into internals).
- ``largest_functions``: the longest functions and methods, by source lines.
- ``layer_violations``: direct imports that go against the import-linter contract's layer order in
  pyproject.toml (a module may import its own layer and those below it, never a layer above).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "omnidex"

def contract_layers(pyproject: Path = ROOT / "pyproject.toml") -> list[list[str]]:
    """The layers of the import-linter contract in pyproject.toml, highest first (siblings split on | and :)."""
    import re
    import tomllib

    conf = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    contract = next(c for c in conf["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    return [[m.strip() for m in re.split(r"[|:]", layer)] for layer in contract["layers"]]


# A module may import only its own layer and those below it (the one list, in pyproject.toml).
LAYERS: list[list[str]] = contract_layers()


def module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(mod: str, is_pkg: bool, level: int, target: str | None) -> str:
    """Absolute module name of a (possibly relative) ``from ... import``."""
    if level == 0:
        return target or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


class Module:
    def __init__(self, name: str, path: Path, tree: ast.Module, is_pkg: bool):
        self.name, self.path, self.tree, self.is_pkg = name, path, tree, is_pkg
        self.defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        for n in tree.body:
            targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AnnAssign) else []
            self.defined |= {t.id for t in targets if isinstance(t, ast.Name)}


def load(src: Path) -> dict[str, Module]:
    mods = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        name = module_name(path, src)
        mods[name] = Module(name, path, tree, path.name == "__init__.py")
    return mods


def owner(name: str, mods: dict[str, Module]) -> str | None:
    """The module (in the package) that ``name`` is, or the closest parent that is one."""
    while name:
        if name in mods:
            return name
        name = name.rpartition(".")[0]
    return None


def edges_and_privates(mods: dict[str, Module]):
    edges: dict[str, set[str]] = {m: set() for m in mods}
    privates = []
    for m in mods.values():
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == PACKAGE and (t := owner(a.name, mods)) and t != m.name:
                        edges[m.name].add(t)
            elif isinstance(node, ast.ImportFrom):
                base = resolve(m.name, m.is_pkg, node.level, node.module)
                if base.split(".")[0] != PACKAGE:
                    continue
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    t = sub if sub in mods else owner(base, mods)
                    if t and t != m.name:
                        edges[m.name].add(t)
                    if (sub not in mods and a.name.startswith("_") and not a.name.startswith("__")
                            and t and t != m.name):
                        privates.append({"importer": m.name, "module": t, "name": a.name, "line": node.lineno})
    return edges, privates


def sccs(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1
        stack.append(root); on.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]; counter[0] += 1
                    stack.append(nxt); on.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out, key=lambda c: (-len(c), c))


def private_reaches(mods: dict[str, Module]) -> list[dict]:
    """``obj._name`` where ``obj`` is not ``self``/``cls``: one object reaching into another's internals."""
    out = []
    for m in mods.values():
        for node in ast.walk(m.tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                out.append({"module": m.name, "line": node.lineno, "expr": ast.unparse(node)})
    return sorted(out, key=lambda r: (r["module"], r["line"], r["expr"]))


def functions(mods: dict[str, Module], top: int) -> list[dict]:
    rows = []
    for m in mods.values():
        stack = [(m.tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    q = prefix + child.name
                    rows.append({"function": f"{m.name}.{q}", "lines": child.end_lineno - child.lineno + 1})
                    stack.append((child, q + "."))
                elif isinstance(child, ast.ClassDef):
                    stack.append((child, prefix + child.name + "."))
    rows.sort(key=lambda r: (-r["lines"], r["function"]))
    return rows[:top]


def layer_of(mod: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        for p in layer:
            if mod == p or mod.startswith(p + "."):
                return i
    return None


def violations(edges: dict[str, set[str]]) -> list[dict]:
    out = []
    for a, targets in sorted(edges.items()):
        la = layer_of(a)
        for b in sorted(targets):
            lb = layer_of(b)
            if la is not None and lb is not None and lb < la:  # lower index = higher layer
                out.append({"importer": a, "imported": b})
    return out


def measure(src: Path = ROOT / "src", top: int = 15) -> dict:
    mods = load(src)
    edges, privates = edges_and_privates(mods)
    cyc = sccs(edges)
    return {
        "modules": len(mods),
        "import_edges": sum(len(v) for v in edges.values()),
        "lines": sum(len(m.path.read_text(encoding="utf-8").splitlines()) for m in mods.values()),
        "cycles": [{"size": len(c), "modules": c} for c in cyc],
        "largest_cycle": max((len(c) for c in cyc), default=0),
        "private_imports": sorted(privates, key=lambda p: (p["importer"], p["line"], p["name"])),
        "private_reaches": private_reaches(mods),
        "largest_functions": functions(mods, top),
        "layer_violations": violations(edges),
        "layers": LAYERS,
    }


def import_time_ms(src: Path, runs: int = 15) -> dict:
    """``import omnidex`` in a fresh interpreter: the median and least of ``runs`` cumulative times from
    ``python -X importtime`` (interpreter start-up excluded), in milliseconds."""
    import os
    import statistics
    import subprocess

    times = []
    for _ in range(runs):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import omnidex"], capture_output=True,
                             text=True, check=True, env={**os.environ, "PYTHONPATH": str(src)}).stderr
        line = [ln for ln in err.splitlines() if ln.rstrip().endswith("| omnidex")][-1]
        times.append(int(line.split("|")[1]) / 1000)
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2), "runs": runs}


def table(r: dict) -> str:
    lines = [f"modules {r['modules']}, import edges {r['import_edges']}, lines {r['lines']}"
             + (f", import omnidex {r['import_time']['median_ms']} ms (median of {r['import_time']['runs']})"
                if "import_time" in r else ""),
             f"cycles: {len(r['cycles'])} (largest {r['largest_cycle']} modules)"]
    for c in r["cycles"]:
        lines.append(f"  {c['size']:3d}  " + ", ".join(c["modules"]))
    lines.append(f"private cross-module imports: {len(r['private_imports'])}")
    for p in r["private_imports"]:
        lines.append(f"  {p['importer']}:{p['line']}  {p['module']}.{p['name']}")
    lines.append(f"private attributes reached on other objects: {len(r['private_reaches'])}")
    for p in r["private_reaches"]:
        lines.append(f"  {p['module']}:{p['line']}  {p['expr']}")
    lines.append(f"layer violations: {len(r['layer_violations'])}")
    for v in r["layer_violations"]:
        lines.append(f"  {v['importer']} -> {v['imported']}")
    lines.append("largest functions (lines):")
    for f in r["largest_functions"]:
        lines.append(f"  {f['lines']:4d}  {f['function']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="folder holding the omnidex package")
    ap.add_argument("--top", type=int, default=15, help="how many of the largest functions to list")
    ap.add_argument("--import-time", action="store_true", help="also time `import omnidex` (python -X importtime)")
    a = ap.parse_args(argv)
    r = measure(a.src, a.top)
    if a.import_time:
        r["import_time"] = import_time_ms(a.src)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(r, indent=1) + "\n", encoding="utf-8")
    print(table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
