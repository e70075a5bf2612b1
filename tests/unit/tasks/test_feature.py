from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from runtime.errors import TasksFileNotFoundError
from runtime.tasks.feature import feature_dir, feature_name, find_repo_root, find_tasks_file
from tests.support.tools import require_tool

NO_ENV: dict[str, str] = {}


def make_feature(root: Path, name: str, tasks: bool = True) -> Path:
    folder = root / "specs" / name
    folder.mkdir(parents=True)
    if tasks:
        (folder / "tasks.md").write_text("- [ ] T001 First\n", encoding="utf-8")
    return folder


def make_repo(tmp_path: Path, branch: str = "main") -> Path:
    (tmp_path / ".specify").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text(f"ref: refs/heads/{branch}\n", encoding="utf-8")
    return tmp_path


def test_explicit_file(tmp_path: Path) -> None:
    folder = make_feature(tmp_path, "001-a")
    assert find_tasks_file(folder / "tasks.md", tmp_path, NO_ENV) == folder / "tasks.md"


def test_explicit_relative_path_is_relative_to_cwd(tmp_path: Path) -> None:
    folder = make_feature(tmp_path, "001-a")
    assert find_tasks_file(Path("specs/001-a"), tmp_path, NO_ENV) == folder / "tasks.md"


def test_explicit_feature_dir_without_tasks_md(tmp_path: Path) -> None:
    folder = make_feature(tmp_path, "001-a", tasks=False)
    with pytest.raises(TasksFileNotFoundError) as info:
        find_tasks_file(folder, tmp_path, NO_ENV)
    assert info.value.exit_code == 10
    assert str(folder) in info.value.message and "--tasks" in info.value.message
    assert info.value.hint == "Run /speckit.tasks first."


def test_explicit_missing_file_wins_over_everything(tmp_path: Path) -> None:
    make_repo(tmp_path)
    make_feature(tmp_path, "001-a")
    with pytest.raises(TasksFileNotFoundError, match="tasks file not found"):
        find_tasks_file(tmp_path / "nope.md", tmp_path, NO_ENV)


def test_env_feature_directory_relative_to_repo_root(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    make_feature(root, "001-a")
    folder = make_feature(root, "002-b")
    sub = root / "src" / "pkg"
    sub.mkdir(parents=True)
    env = {"SPECIFY_FEATURE_DIRECTORY": "specs/002-b"}
    assert find_tasks_file(None, sub, env) == folder / "tasks.md"


def test_env_feature_directory_without_tasks_is_an_error(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    make_feature(root, "001-a")
    folder = make_feature(root, "002-b", tasks=False)
    with pytest.raises(TasksFileNotFoundError, match="SPECIFY_FEATURE_DIRECTORY"):
        find_tasks_file(None, root, {"SPECIFY_FEATURE_DIRECTORY": str(folder)})


def test_feature_json(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    make_feature(root, "001-a")
    folder = make_feature(root, "002-b")
    (root / ".specify" / "feature.json").write_text(
        json.dumps({"feature_directory": "specs/002-b"}), encoding="utf-8"
    )
    assert find_tasks_file(None, root, NO_ENV) == folder / "tasks.md"


def test_env_beats_feature_json(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    first = make_feature(root, "001-a")
    make_feature(root, "002-b")
    (root / ".specify" / "feature.json").write_text('{"feature_directory": "specs/002-b"}')
    env = {"SPECIFY_FEATURE_DIRECTORY": "specs/001-a"}
    assert find_tasks_file(None, root, env) == first / "tasks.md"


def test_broken_feature_json_falls_through_to_branch(tmp_path: Path) -> None:
    root = make_repo(tmp_path, branch="002-b")
    make_feature(root, "001-a")
    folder = make_feature(root, "002-b")
    (root / ".specify" / "feature.json").write_text("{not json", encoding="utf-8")
    assert find_tasks_file(None, root, NO_ENV) == folder / "tasks.md"


def test_specify_feature_env_names_the_feature(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    make_feature(root, "001-a")
    folder = make_feature(root, "002-b")
    assert find_tasks_file(None, root, {"SPECIFY_FEATURE": "002-b"}) == folder / "tasks.md"


def test_branch_number_prefix_selects_feature_dir(tmp_path: Path) -> None:
    root = make_repo(tmp_path, branch="002-other-wording")
    make_feature(root, "001-a")
    folder = make_feature(root, "002-photo-albums")
    assert find_tasks_file(None, root, NO_ENV) == folder / "tasks.md"


def test_branch_in_a_worktree_git_file(tmp_path: Path) -> None:
    root = tmp_path / "wt"
    root.mkdir()
    gitdir = tmp_path / "main.git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "HEAD").write_text("ref: refs/heads/002-b\n", encoding="utf-8")
    (root / ".git").write_text(f"gitdir: {gitdir}\n", encoding="utf-8")
    make_feature(root, "001-a")
    folder = make_feature(root, "002-b")
    assert find_tasks_file(None, root, NO_ENV) == folder / "tasks.md"


def test_branch_feature_without_tasks_says_run_speckit_tasks(tmp_path: Path) -> None:
    root = make_repo(tmp_path, branch="003-c")
    make_feature(root, "001-a")
    make_feature(root, "003-c", tasks=False)
    with pytest.raises(TasksFileNotFoundError) as info:
        find_tasks_file(None, root, NO_ENV)
    assert "003-c" in info.value.message and "/speckit.tasks" in info.value.hint


def test_two_dirs_for_one_branch_prefix(tmp_path: Path) -> None:
    root = make_repo(tmp_path, branch="004-x")
    make_feature(root, "004-first")
    make_feature(root, "004-second")
    with pytest.raises(TasksFileNotFoundError, match="004-first, 004-second"):
        find_tasks_file(None, root, NO_ENV)


def test_single_feature_is_used_on_main(tmp_path: Path) -> None:
    root = make_repo(tmp_path, branch="main")
    folder = make_feature(root, "001-a")
    assert find_tasks_file(None, root, NO_ENV) == folder / "tasks.md"


def test_several_features_on_main_is_ambiguous(tmp_path: Path) -> None:
    root = make_repo(tmp_path, branch="main")
    make_feature(root, "001-a")
    make_feature(root, "002-b")
    with pytest.raises(TasksFileNotFoundError, match="001-a, 002-b") as info:
        find_tasks_file(None, root, NO_ENV)
    assert "--tasks" in info.value.hint


def test_nothing_found(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    with pytest.raises(TasksFileNotFoundError) as info:
        find_tasks_file(None, root, NO_ENV)
    assert "\n" not in info.value.message
    assert "Run /speckit.tasks first." in info.value.hint


def test_repo_root_prefers_specify_over_nearer_git(tmp_path: Path) -> None:
    (tmp_path / ".specify").mkdir()
    nested = tmp_path / "vendor" / "lib"
    (nested / ".git").mkdir(parents=True)
    deep = nested / "src"
    deep.mkdir()
    assert find_repo_root(deep, NO_ENV) == tmp_path
    assert find_repo_root(deep, {"SPECIFY_INIT_DIR": str(nested)}) == nested


def test_repo_root_falls_back_to_git_then_cwd(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    deep = tmp_path / "repo" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_repo_root(deep, NO_ENV) == tmp_path / "repo"


def test_feature_dir_and_name(tmp_path: Path) -> None:
    tasks = make_feature(tmp_path, "001-photo-albums") / "tasks.md"
    assert feature_dir(tasks) == tmp_path / "specs" / "001-photo-albums"
    assert feature_name(tasks) == "001-photo-albums"


def test_agrees_with_real_spec_kit_scripts(tmp_path: Path) -> None:
    """feature.json as written by spec-kit's own common.sh resolves the same way."""
    require_tool("specify", "pip install specify-cli==1.2.3")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    init = [
        "specify",
        "init",
        "--here",
        "--force",
        "--non-interactive",
        "--integration",
        "opencode",
        "--script",
        "sh",
        "--ignore-agent-tools",
    ]
    subprocess.run(init, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    make_feature(tmp_path, "001-a")
    folder = make_feature(tmp_path, "002-b")
    (folder / "plan.md").write_text("# Plan\n", encoding="utf-8")
    script = tmp_path / ".specify" / "scripts" / "bash" / "check-prerequisites.sh"
    env = {"PATH": "/usr/bin:/bin", "SPECIFY_FEATURE_DIRECTORY": "specs/002-b"}
    subprocess.run(
        ["bash", str(script), "--json"], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    assert (tmp_path / ".specify" / "feature.json").is_file()  # persisted by spec-kit
    paths = subprocess.run(
        ["bash", str(script), "--paths-only", "--json"],
        cwd=tmp_path / "specs",
        env={"PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = Path(json.loads(paths.stdout)["TASKS"])
    assert find_tasks_file(None, tmp_path / "specs", NO_ENV) == expected
