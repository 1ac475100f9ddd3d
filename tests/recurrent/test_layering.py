"""The recurrent analyses return data: none of their modules imports the report (figures, page) or the CLI."""

import ast
from pathlib import Path

import nnscope.recurrent

PACKAGE = Path(nnscope.recurrent.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_recurrent_module_imports_the_report_or_the_cli():
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) > 5
    for path in files:
        drawn = [m for m in imported_modules(path) if m.startswith(("nnscope.report", "nnscope.cli", "matplotlib"))]
        assert not drawn, (path.name, drawn)


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    source = tmp_path / "late.py"
    source.write_text("def f():\n    from nnscope.report.plotting import plt\n")
    assert "nnscope.report.plotting" in imported_modules(source)
