from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
EXT = ROOT / "extension"
WRAPPERS = ["run-async.sh", "spawn-pod.sh", "tail-logs.sh"]


def frontmatter(path: Path) -> dict[str, object]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    data = yaml.safe_load(text.split("---\n", 2)[1])
    assert isinstance(data, dict)
    return data


def test_manifest_declares_commands_and_hooks() -> None:
    data = yaml.safe_load((EXT / "extension.yml").read_text(encoding="utf-8"))
    assert data["schema_version"] == "1.0"
    assert data["extension"]["id"] == "pods" and data["extension"]["version"] == "0.1.0"
    commands = {c["name"]: c["file"] for c in data["provides"]["commands"]}
    assert commands == {
        "speckit.pods.dispatch": "commands/dispatch.md",
        "speckit.pods.status": "commands/status.md",
    }
    assert all((EXT / f).is_file() for f in commands.values())
    assert data["hooks"]["before_implement"]["command"] == "speckit.pods.dispatch"
    assert data["hooks"]["before_implement"]["optional"] is False
    assert data["hooks"]["after_implement"]["command"] == "speckit.pods.status"


def test_manifest_passes_spec_kits_own_validation() -> None:
    extensions = pytest.importorskip("specify_cli.extensions")
    manifest = extensions.ExtensionManifest(EXT / "extension.yml")
    assert manifest.id == "pods"


def test_subagent_may_run_only_our_scripts_and_read_only_commands() -> None:
    meta = frontmatter(EXT / "agents" / "speckit-pods.md")
    assert meta["mode"] == "subagent" and meta["description"]
    permission = meta["permission"]
    assert isinstance(permission, dict)
    assert permission["edit"] == "deny"
    bash = permission["bash"]
    assert list(bash)[0] == "*" and bash["*"] == "deny"
    allowed = {pattern for pattern, rule in bash.items() if rule == "allow"}
    ours = {p for p in allowed if p.startswith(".specify/extensions/pods/scripts/bash/")}
    assert {p.split("/")[-1].split()[0] for p in ours} == set(WRAPPERS)
    assert all(p.split()[0] in {"cat", "ls", "git"} for p in allowed - ours)
    assert set(bash.values()) <= {"allow", "deny"}  # never "ask": a headless run rejects asks


def test_commands_use_the_installed_script_paths() -> None:
    dispatch = (EXT / "commands" / "dispatch.md").read_text(encoding="utf-8")
    assert ".specify/extensions/pods/scripts/bash/run-async.sh plan --json" in dispatch
    assert "subagent_type" in dispatch and "speckit-pods" in dispatch
    status = (EXT / "commands" / "status.md").read_text(encoding="utf-8")
    assert ".specify/extensions/pods/scripts/bash/run-async.sh status" in status
    for path in (EXT / "commands").glob("*.md"):
        assert frontmatter(path)["description"]


def wrapper(name: str, *args: str, home: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPECKIT_PODS_HOME"}
    if home is not None:
        env["SPECKIT_PODS_HOME"] = home
    script = EXT / "scripts" / "bash" / name
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize("name", WRAPPERS)
def test_wrappers_need_speckit_pods_home(name: str, tmp_path: Path) -> None:
    unset = wrapper(name, "--help", home=None)
    assert unset.returncode == 1
    assert unset.stderr.startswith("ERROR: SPECKIT_PODS_HOME is not set\nHint: export")
    wrong = wrapper(name, "--help", home=str(tmp_path))
    assert wrong.returncode == 1 and "does not hold scripts/spawn-pod.sh" in wrong.stderr
    ok = wrapper(name, "--help", home=str(ROOT))
    assert ok.returncode == 0 and f"Usage: {name}" in ok.stdout


def test_build_zip_packs_the_installable_files(tmp_path: Path) -> None:
    if shutil.which("zip") is None and shutil.which("python3") is None:
        pytest.skip("needs zip or python3")
    done = subprocess.run(
        ["bash", str(EXT / "build-zip.sh"), str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    import zipfile

    archive = Path(done.stdout.strip())
    assert archive.name == "speckit-pods-extension-0.1.0.zip"
    names = set(zipfile.ZipFile(archive).namelist())
    assert "extension.yml" in names and "agents/speckit-pods.md" in names
    assert "scripts/bash/run-async.sh" in names and "build-zip.sh" not in names


# --- the real spec-kit client -----------------------------------------------------------


def tree(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if ".git" not in p.relative_to(root).parts and (p.is_file() or p.is_symlink())
    }


@pytest.fixture
def speckit_project(tmp_path: Path) -> Path:
    if shutil.which("specify") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the specify CLI is required in CI: pip install specify-cli==1.2.3")
        pytest.skip("the specify CLI is not installed (pip install specify-cli==1.2.3)")
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, timeout=60)
    specify(project, "init", "--here", "--force", "--non-interactive", "--integration",
            "opencode", "--script", "sh", "--ignore-agent-tools")  # fmt: skip
    return project


def specify(project: Path, *args: str) -> str:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        ["specify", *args], cwd=project, capture_output=True, text=True, timeout=180, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# spec-kit's own bookkeeping, which `extension remove` empties but keeps
SPECKIT_REGISTRY = {".specify/extensions.yml", ".specify/extensions/.registry"}


@pytest.mark.specify
def test_specify_extension_add_and_remove(speckit_project: Path) -> None:
    before = tree(speckit_project)
    specify(speckit_project, "extension", "add", "--dev", str(EXT))

    commands = speckit_project / ".opencode" / "commands"
    for name, action in (("dispatch", "plan"), ("status", "status")):
        text = (commands / f"speckit.pods.{name}.md").read_text(encoding="utf-8")
        assert f".specify/extensions/pods/scripts/bash/run-async.sh {action}" in text
    config = yaml.safe_load((speckit_project / ".specify" / "extensions.yml").read_text())
    before_hook = config["hooks"]["before_implement"]
    assert [(h["extension"], h["command"], h["optional"]) for h in before_hook] == [
        ("pods", "speckit.pods.dispatch", False)
    ]
    assert config["hooks"]["after_implement"][0]["command"] == "speckit.pods.status"
    installed = speckit_project / ".specify" / "extensions" / "pods"
    assert (installed / "agents" / "speckit-pods.md").is_file()
    assert os.access(installed / "scripts" / "bash" / "run-async.sh", os.X_OK)
    assert not (installed / "build-zip.sh").exists()  # .extensionignore

    agent = subprocess.run(
        [str(installed / "scripts" / "bash" / "install-agent.sh")],
        cwd=speckit_project, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert agent.returncode == 0 and agent.stdout == ".opencode/agent/speckit-pods.md\n"
    subprocess.run(
        [str(installed / "scripts" / "bash" / "install-agent.sh"), "--remove"],
        cwd=speckit_project, check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    specify(speckit_project, "extension", "remove", "pods", "--force")
    after = tree(speckit_project)
    assert after - SPECKIT_REGISTRY == before
    config = yaml.safe_load((speckit_project / ".specify" / "extensions.yml").read_text())
    assert not config.get("hooks") and not config.get("installed")
