"""The engine never imports the lab, and nothing in ``detector`` imports the web app.

Every module is parsed (not imported), so lazy imports inside functions count too. Only the
command line (``detector/cli.py``, ``detector/__main__.py``) may wire the lab in.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "detector"
LAB = ROOT / "lab"
CLI = {ROOT / "cli.py", ROOT / "__main__.py"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    return _imports_in(path.read_text(), package)


def _imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, a module of ``package``;
    relative imports resolved."""
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from detector import lab`` imports detector.lab: count each name as a module too
            out += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append((node.lineno, node.args[0].value))
    return out


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


ALL = sorted(ROOT.rglob("*.py"))
ENGINE = [p for p in ALL if LAB not in p.parents and p not in CLI]


def test_the_layout_is_what_this_test_assumes():
    names = {_module_name(p) for p in ENGINE}
    assert {"detector.model", "detector.train", "detector.score", "detector.settings"} <= names
    assert not any(_within(n, "detector.lab") for n in names)
    assert (LAB / "phantom" / "__init__.py").is_file() and (LAB / "evaluate.py").is_file()


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_engine_module_does_not_import_the_lab(path: Path):
    bad = [f"line {n}: {m}" for n, m in _imports(path) if _within(m, "detector.lab")]
    assert not bad, f"{path.relative_to(ROOT.parent)} imports the lab: {'; '.join(bad)}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_detector_does_not_import_the_web_app(path: Path):
    bad = [f"line {n}: {m}" for n, m in _imports(path) if _within(m, "django") or _within(m, "webapp")]
    assert not bad, f"{path.relative_to(ROOT.parent)} imports the web side: {'; '.join(bad)}"


def test_the_checker_sees_lazy_relative_and_from_imports():
    src = (
        "def f():\n"
        "    from ..lab import evaluate\n"
        "    from detector import lab\n"
        "    import importlib\n"
        "    importlib.import_module('detector.lab.tune')\n"
        "    import django.conf\n"
    )
    names = [m for _, m in _imports_in(src, "detector.io")]
    assert "detector.lab.evaluate" in names and "detector.lab" in names
    assert "detector.lab.tune" in names and "django.conf" in names
