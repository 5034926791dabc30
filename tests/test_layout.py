"""The library's import graph: no cycles, the science apart from the reproduction machinery and the app,
the data layer below training and metrics, and inference (app/) free of training code."""

from __future__ import annotations

import ast

from sdfnets import paths

SCIENCE = ("config", "data", "deepsdf", "diffusion", "weightspace", "image2latent", "multiview", "metrics", "train", "field",
           "layers", "thesis", "paths", "io", "devices", "cudagraphs", "parallel", "quantize")


def _module(path) -> str:
    rel = path.relative_to(paths.LIB_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """module -> the sdfnets modules it imports (anywhere in the file, lazy imports included)."""
    files = {_module(p): p for p in paths.LIB_DIR.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                for alias in node.names:  # `from . import x` names a module where one exists
                    target = f"{base}.{alias.name}"
                    out.add(target if target in files else base)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        graph[name] = {m for m in out if m in files and m != name}
    return graph


def _reach(graph, start) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in graph.get(todo.pop(), ()):
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def _area(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other in a loop (strongly connected, more than one module)."""
    return [sorted(g) for g in {frozenset({m} | {t for t in _reach(graph, m) if m in _reach(graph, t)})
                                for m in graph if m in _reach(graph, m)}]


def test_the_import_graph_has_no_cycles():
    assert not cycles(_graph())


def test_the_cycle_check_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_science_imports_neither_the_machinery_nor_the_app():
    graph = _graph()
    bad = {m: sorted(t for t in ts if _area(t) in ("repro", "app"))
           for m, ts in graph.items() if _area(m) in SCIENCE}
    assert not {m: ts for m, ts in bad.items() if ts}


def test_data_imports_nothing_from_training_or_metrics():
    graph = _graph()
    for m in graph:
        if _area(m) == "data":
            assert not {t for t in _reach(graph, m) if _area(t) in ("train", "metrics")}, m


def test_inference_reaches_no_training_code():
    """What image2mesh and the demo run loads releases: neither the training loop nor a phase's trainer."""
    graph = _graph()
    for m in ("sdfnets.app.image2mesh", "sdfnets.app.demo"):
        reached = _reach(graph, m)
        assert not {t for t in reached if _area(t) == "train" or t.endswith(".train")}, (m, sorted(reached))


def test_every_module_imports():
    """Each module of the library imports on its own (a name imported from a package that does not hand it on
    fails here, not first in a notebook)."""
    import importlib
    import pkgutil

    import sdfnets

    for m in pkgutil.walk_packages(sdfnets.__path__, "sdfnets."):
        if not m.name.endswith(("fused_kernels", "__main__")):  # Triton is optional; __main__ runs the CLI
            importlib.import_module(m.name)
