"""The shape of the package, read from the source with ``ast`` (README → Architecture):

- the core imports no Flask: every module under kapfinder/ except the web glue named in ``GLUE``
  imports no Flask package, at module level or inside a function, and imports no glue module,
  directly or through another module;
- there are no import circles among kapfinder's modules (function-level imports count too; a
  package importing its own submodules does not).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The web glue: the only modules that may import Flask. A name covers a package's submodules.
GLUE = {
    "kapfinder": "the package's __init__: create_app",
    "kapfinder.auth": "Flask-Login set-up, sessions, access control",
    "kapfinder.cli": "the `flask` commands",
    "kapfinder.extensions": "the Flask extension objects",
    "kapfinder.forms": "WTForms classes",
    "kapfinder.language": "the language of a request (?lang=, Accept-Language), links that keep it",
    "kapfinder.messages": "error messages translated through Flask-Babel",
    "kapfinder.migrating": "Flask-Migrate, loaded on demand",
    "kapfinder.serving": "proxies, body limits, caches and JSON on the app; gunicorn's logger",
    "kapfinder.templating": "what templates may call",
    "kapfinder.throttle": "rate limits on the sign-in forms",
    "kapfinder.views": "the blueprints and what their pages share",
    "kapfinder.vocab_words": "vocabulary labels and descriptions translated through Flask-Babel at render time",
    "kapfinder.web": "headers, request log, CORS and links on every response",
}
#: Imports a core module may make from a Flask package, with the reason.
ALLOWED = {
    ("kapfinder.accounts", "werkzeug.security"): "password hashing: functions of the hash, no app or request",
}


def is_flask(module: str) -> bool:
    top = module.split(".")[0]
    return top in ("flask", "werkzeug") or top.startswith("flask_")


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


class Package:
    """The modules under ``root/<name>/`` and every import each makes, resolved to module names."""

    def __init__(self, root: Path, name: str = "kapfinder") -> None:
        self.files: dict[str, Path] = {}
        for path in sorted((root / name).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            self.files[".".join(parts)] = path
        self.imports = {module: self._imports(module, path) for module, path in self.files.items()}

    def known(self, name: str) -> str | None:
        """The module ``name`` is, or is inside (``kapfinder.vocab.CARRIERS`` → ``kapfinder.vocab``)."""
        while name and name not in self.files:
            name = name.rpartition(".")[0]
        return name or None

    def _imports(self, module: str, path: Path) -> list[tuple[str, int]]:
        """(imported module, line) for every import statement, wherever it stands in the file."""
        found = []
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:  # `from . import vocab` imports the module kapfinder.vocab
                    submodule = f"{source}.{alias.name}"
                    found.append((submodule if submodule in self.files else source, node.lineno))
        return found

    def edges(self, module: str) -> dict[str, int]:
        """The package's modules ``module`` imports (not itself, not its own submodules), with a line."""
        out: dict[str, int] = {}
        for name, line in self.imports[module]:
            target = self.known(name) if in_package(name, "kapfinder") else None
            if target and not in_package(target, module):
                out.setdefault(target, line)
        return out

    def cycles(self) -> list[list[str]]:
        """Every strongly connected group of more than one module (Tarjan), each as a list."""
        graph = {module: self.edges(module) for module in self.files}
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        groups: list[list[str]] = []

        def visit(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            for w in graph[v]:
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

        for module in graph:
            if module not in index:
                visit(module)
        return groups


PACKAGE = Package(ROOT)


def is_glue(module: str) -> bool:
    return any(module == name or (name != "kapfinder" and in_package(module, name)) for name in GLUE)


CORE = sorted(module for module in PACKAGE.files if not is_glue(module))


def test_the_glue_list_names_modules_that_exist_and_the_core_is_most_of_the_package():
    assert all(PACKAGE.known(name) == name for name in GLUE)
    assert {"kapfinder.search", "kapfinder.search.index", "kapfinder.listings", "kapfinder.hsds", "kapfinder.geo",
            "kapfinder.serialize", "kapfinder.accounts", "kapfinder.formats"} <= set(CORE)
    assert len(CORE) > len(PACKAGE.files) // 2


def test_imports_are_read_from_every_file_and_function():
    edges = PACKAGE.edges("kapfinder.views.api")
    assert {"kapfinder.search", "kapfinder.serialize", "kapfinder.vocab", "kapfinder.openapi"} <= set(edges)
    assert "kapfinder.search.registry" in PACKAGE.edges("kapfinder.serving")  # imported inside a function


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_flask(module):
    flask = [f"line {line}: {name}" for name, line in PACKAGE.imports[module]
             if is_flask(name) and (module, name) not in ALLOWED]
    assert not flask, f"{module} is core but imports Flask"
    # Nor does anything it imports: every module it reaches is core too.
    seen, todo, via = {module}, [module], {module: [module]}
    while todo:
        current = todo.pop()
        for target in PACKAGE.edges(current):
            assert not is_glue(target), f"{module} reaches web glue: {' -> '.join([*via[current], target])}"
            if target not in seen:
                seen.add(target)
                via[target] = [*via[current], target]
                todo.append(target)


def test_importing_the_core_loads_no_flask():
    """What the ast says, checked once at run time: the bench, the worker and the CLI's core can run
    without Flask (importing ``kapfinder`` itself loads none: ``create_app`` imports it when called)."""
    code = ("import importlib, sys\n"
            f"for name in {CORE!r}: importlib.import_module(name)\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug') or m.startswith('flask_'))\n"
            "print(' '.join(loaded))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    allowed = {name.split(".")[0] for _module, name in ALLOWED}
    loaded = set(done.stdout.split())
    assert {m.split(".")[0] for m in loaded} <= allowed and "flask" not in loaded, loaded


def test_there_are_no_import_circles():
    assert PACKAGE.cycles() == []


def test_a_circle_is_found_and_a_package_importing_its_submodules_is_not(tmp_path):
    pkg = tmp_path / "kapfinder"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import thing\n")
    (pkg / "sub" / "__init__.py").write_text("from .leaf import x\n")
    (pkg / "sub" / "leaf.py").write_text("from .. import sub\nfrom kapfinder.sub import y\n")
    assert Package(tmp_path).cycles() == [["kapfinder.a", "kapfinder.b"]]
