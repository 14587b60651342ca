"""The layering of docs/architecture.md, checked: import-linter's contracts in pyproject.toml
(the pipeline runs one way, the recorder never imports the analyzer, nothing imports the CLI, no
import cycles), and the size of every module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("recorder", "analyzer", "demo")  # installed as wstape.recorder, .analyzer, .demo
MAX_LINES = 400


def package_tree(tmp_path: Path) -> Path:
    """The checkout laid out as the installed package: import-linter reads one package's folder,
    and in the checkout wstape's parts are top-level folders of their own."""
    package = tmp_path / "wstape"
    package.mkdir()
    for module in (ROOT / "wstape").glob("*.py"):
        (package / module.name).symlink_to(module)
    for part in PARTS:
        (package / part).symlink_to(ROOT / part, target_is_directory=True)
    return tmp_path


def test_import_contracts_are_kept(tmp_path: Path) -> None:
    tree = package_tree(tmp_path)
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    # Every part was read: a tree that lost a folder would keep every contract vacuously.
    analyzed = int(result.stdout.split("Analyzed ")[1].split(" files")[0])
    assert analyzed >= len(modules())


def modules() -> list[Path]:
    return [module for part in ("wstape", *PARTS) for module in (ROOT / part).rglob("*.py")]


def test_no_module_is_over_400_lines() -> None:
    too_long = {}
    for module in modules():
        lines = len(module.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            too_long[str(module.relative_to(ROOT))] = lines
    assert not too_long, f"split these by what their parts hold: {too_long}"
