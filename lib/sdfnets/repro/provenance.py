"""Where recorded values come from, and whether they are still current: the commit, the device, the
hash of a notebook's source and of the library files it imports, and the freshness test ``make figures`` and the
workflow use (a notebook is fresh when its values were made by exactly this notebook and library)."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from .. import paths
from ..devices import device_name  # noqa: F401  (part of the provenance a values file records)


def _lib() -> Path:
    return Path(paths.LIB_DIR).resolve()


def library_hash(files: Iterable[Path] | None = None) -> str:
    """SHA-256 of library source files, names and contents: ``files`` (default: every ``**/*.py`` of the
    library)."""
    lib = _lib()
    h = hashlib.sha256()
    for p in sorted(lib.rglob("*.py") if files is None else files):
        h.update(p.relative_to(lib).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _module_file(name: str, lib: Path) -> Path | None:
    """The file of library module ``name`` (``sdfnets.a.b``) in ``lib``, or None where it is no module of it."""
    parts = name.split(".")
    if parts[0] != lib.name:
        return None
    base = lib.joinpath(*parts[1:])
    for p in (base / "__init__.py", base.with_suffix(".py")):
        if p.is_file():
            return p
    return None


def _imports(path: Path, module: str) -> set[str]:
    """Every module name an ``import`` anywhere in ``path`` (module ``module``) may load, relative ones
    resolved: ``from a import b`` names both ``a`` and ``a.b`` (``b`` may be a submodule)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return out


def imported_files(source: Path) -> list[Path]:
    """The library files ``source`` (a notebook or a library file) reaches through its imports, followed
    through the library with every package's ``__init__`` on the way; imports inside functions count too."""
    lib = _lib()
    root = lib.name
    seen: dict[Path, str] = {}
    source = Path(source).resolve()
    module = "__main__"  # a notebook; a library file is its own module (its relative imports resolve)
    if source.is_relative_to(lib):
        parts = source.relative_to(lib).with_suffix("").parts
        module = ".".join((root, *parts[: -1 if parts[-1] == "__init__" else None]))
    todo = [(source, module)]
    while todo:
        path, module = todo.pop()
        for name in _imports(path, module):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # the packages on the way are run too
                sub = ".".join(parts[:i])
                f = _module_file(sub, lib) if parts[0] == root else None
                if f is not None and f not in seen:
                    seen[f] = sub
                    todo.append((f, sub))
    return sorted(seen)


def _ast_text(node) -> str:
    """A syntax tree as text that reads the same on every Python version: ``ast.dump`` adds fields as the
    language grows (``type_params`` since 3.12) or leaves empty ones out (3.13), and ``ast.unparse`` quotes
    f-strings differently since 3.12; here fields that are None or empty are left out on every version."""
    if isinstance(node, ast.AST):
        fields = (f"{name}={_ast_text(value)}" for name, value in ast.iter_fields(node) if value not in (None, []))
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, list):
        return f"[{', '.join(_ast_text(v) for v in node)}]"
    return repr(node)


def _config_code(files: Iterable[Path]) -> str:
    """SHA-256 of the config package's code without what :func:`config_fingerprint` reads from the resolved
    config instead: the sections' field defaults, the preset table, docstrings, comments and layout."""
    h = hashlib.sha256()
    for p in sorted(files):
        tree = ast.parse(p.read_bytes())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]  # the docstring
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if isinstance(stmt, ast.AnnAssign):
                        stmt.value = None  # a field's default
            targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(getattr(t, "id", None) == "_PRESETS"
                                                                      for t in targets):
                node.value = ast.Constant(None)  # the preset table
        h.update(p.name.encode())
        h.update(_ast_text(tree).encode())
    return h.hexdigest()


def _resolved(scale: str) -> dict:
    """The config ``resolve(scale)`` builds, without its :func:`~sdfnets.config.sections.computation` settings
    (how a step is computed, not which step: they leave every value the same)."""
    import dataclasses

    from .. import config

    def strip(obj):
        return {f.name: strip(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not f.metadata.get("computation")} if dataclasses.is_dataclass(obj) else obj

    return strip(config.resolve(scale))


def config_fingerprint(scale: str, files: Iterable[Path] | None = None) -> str:
    """What the config package gives a notebook at ``scale``: the config it resolves to there (less the
    computation settings) and the package's code less the defaults and presets that config already holds. So
    another scale's preset, a comment or a computation setting changed there leaves a notebook's values current."""
    files = sorted(_lib().joinpath("config").glob("*.py")) if files is None else files
    h = hashlib.sha256(json.dumps(_resolved(scale), sort_keys=True, default=str).encode())
    h.update(_config_code(files).encode())
    return h.hexdigest()


def source_hash(notebook: Path, scale: str) -> str:
    """What a notebook's values depend on: its scale, its source and the library files it imports
    (:func:`imported_files`), so a change elsewhere in the library leaves its values current; the config
    package counts by :func:`config_fingerprint`, not by its text."""
    h = hashlib.sha256(f"{scale}\n".encode())
    h.update(notebook.read_bytes())
    try:
        files = imported_files(notebook)
    except SyntaxError:  # a notebook being edited: all of the library
        files = None
    if files is None:
        h.update(library_hash(files).encode())
        return h.hexdigest()
    config_dir = _lib() / "config"
    in_config = [f for f in files if f.is_relative_to(config_dir)]
    h.update(library_hash([f for f in files if not f.is_relative_to(config_dir)]).encode())
    if in_config:
        h.update(config_fingerprint(scale, in_config).encode())
    return h.hexdigest()


def stamp_path(notebook: str, scale: str) -> Path:
    return paths.build_dir() / "notebooks" / scale / f"{notebook}.stamp"


def is_fresh(notebook: Path, scale: str) -> bool:
    """Whether the notebook's recorded values (and figures) come from exactly this notebook and
    library: this machine's run stamp says so, or the committed values file records the same source
    hash (so a fresh clone whose committed figures match its code calls them fresh)."""
    values = paths.values_path(notebook.stem, scale)
    if not values.exists():
        return False
    want = source_hash(notebook, scale)
    stamp = stamp_path(notebook.stem, scale)
    if stamp.exists() and stamp.read_text().strip() == want:
        return True
    try:
        return json.loads(values.read_text()).get("source_hash") == want
    except ValueError:
        return False


def changed_since(notebook: Path, scale: str) -> list[str] | None:
    """Why a notebook's recorded values are not current: its source and the library files it imports that
    differ between the commit its values record and this working tree (paths from the repository root), or
    None where that cannot be told (no values, no commit recorded, no git history here)."""
    values = paths.values_path(notebook.stem, scale)
    try:
        commit = json.loads(values.read_text()).get("git_commit")
    except (OSError, ValueError):
        return None
    if not commit or commit == "unknown":
        return None
    files = [Path(notebook).resolve(), *imported_files(notebook)]
    rel = [f.relative_to(paths.REPO_ROOT.resolve()).as_posix() for f in files]
    try:
        out = subprocess.run(["git", "diff", "--name-only", commit, "--", *rel], cwd=paths.REPO_ROOT,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted(out.stdout.split()) if out.returncode == 0 else None


def stale_reason(notebook: Path, scale: str, shown: int = 6) -> str:
    """:func:`changed_since` in a few words: the first ``shown`` files (library paths from the package) and how
    many more; empty where it cannot be told."""
    changed = [c.removeprefix("lib/sdfnets/") for c in changed_since(notebook, scale) or []]
    more = f" and {len(changed) - shown} more" if len(changed) > shown else ""
    return ", ".join(changed[:shown]) + more


def git_commit() -> str:
    """The commit the code ran on: ``git rev-parse``, or ``SDFNETS_GIT_COMMIT`` where the copy has no
    ``.git`` (a repository copied to a GPU node without its history)."""
    if os.environ.get("SDFNETS_GIT_COMMIT"):
        return os.environ["SDFNETS_GIT_COMMIT"][:12]
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=paths.REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"
