"""The layout's rules hold, and breaking one fails the lint (``lint-imports``)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB_ONLY = ("runtime/agent", "runtime/contract")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", STDLIB_ONLY)
def test_the_agent_image_code_is_stdlib_and_contract_only(package: str) -> None:
    allowed = ("runtime.contract", "runtime.agent") if package.endswith("agent") else ()
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            ok = top in sys.stdlib_module_names or name.startswith(allowed)
            ok = ok or (package.endswith("contract") and name.startswith("runtime.contract"))
            assert ok, f"{path.relative_to(ROOT)} imports {name}"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("lint-imports")
    if tool is None:
        pytest.fail("lint-imports not found: pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [tool, "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "runtime", tmp_path / "runtime", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_rules_hold(tree: Path) -> None:
    done = _lint_imports(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" in done.stdout and "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("runtime/tasks/plan.py", "import runtime.kube.client", "layers"),
        ("runtime/dispatch/view.py", "import runtime.cli.status_cmd", "layers"),
        ("runtime/agent/gitops.py", "import runtime.spawn.repo", "the agent imports only"),
        ("runtime/tasks/parse.py", "import kubernetes", "never import Kubernetes"),
        ("runtime/review/github.py", "import runtime.kube.client", "never import Kubernetes"),
        ("runtime/review/gitea.py", "import runtime.spawn.repo", "layers"),
    ],
)
def test_breaking_a_rule_fails_the_lint(tree: Path, module: str, line: str, contract: str) -> None:
    path = tree / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    done = _lint_imports(tree)
    assert done.returncode != 0
    assert contract in done.stdout and "BROKEN" in done.stdout
