from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.support.tools import require_tool

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


def test_subagent_may_run_only_its_two_tools() -> None:
    meta = frontmatter(EXT / "agents" / "speckit-pods.md")
    assert meta["mode"] == "subagent" and meta["description"]
    permission = meta["permission"]
    assert isinstance(permission, dict)
    assert list(permission)[0] == "*" and permission["*"] == "deny"  # every other tool, bash too
    # never "ask": a headless run rejects asks; the last matching rule wins
    assert permission == {
        "*": "deny",
        "speckit_pods_spawn": "allow",
        "speckit_pods_follow": "allow",
        "doom_loop": "allow",
    }


def test_the_tools_module_exports_the_two_tools() -> None:
    """opencode names a module's named exports <file>_<export>; args are JSON Schema."""
    text = (EXT / "tools" / "speckit_pods.js").read_text(encoding="utf-8")
    assert re.findall(r"^export (?:const|function|default) (\w*)", text, re.M) == [
        "spawn",
        "follow",
    ]
    assert not re.findall(r"^import .* from \"(?!node:)", text, re.M)  # no npm package


def test_commands_use_the_installed_script_paths() -> None:
    dispatch = (EXT / "commands" / "dispatch.md").read_text(encoding="utf-8")
    assert ".specify/extensions/pods/scripts/bash/run-async.sh plan --json" in dispatch
    assert "subagent_type" in dispatch and "speckit-pods" in dispatch
    status = (EXT / "commands" / "status.md").read_text(encoding="utf-8")
    assert ".specify/extensions/pods/scripts/bash/run-async.sh status" in status
    for path in (EXT / "commands").glob("*.md"):
        assert frontmatter(path)["description"]


SUBCOMMANDS = {"run-async.sh": "dispatch", "spawn-pod.sh": "spawn", "tail-logs.sh": "logs"}


def wrapper(
    name: str, *args: str, home: str | None, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPECKIT_PODS_HOME"}
    if home is not None:
        env["SPECKIT_PODS_HOME"] = home
    if path is not None:
        env["PATH"] = path
    bash = shutil.which("bash")
    assert bash is not None
    script = EXT / "scripts" / "bash" / name
    return subprocess.run(
        [bash, str(script), *args], capture_output=True, text=True, env=env, timeout=60
    )


def bin_dir(tmp_path: Path, **programs: str) -> Path:
    """A PATH directory holding `dirname` (the wrappers need it) and the given scripts."""
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    dirname = shutil.which("dirname")
    assert dirname is not None
    (directory / "dirname").symlink_to(dirname)
    for name, text in programs.items():
        (directory / name).write_text(text, encoding="utf-8")
        (directory / name).chmod(0o755)
    return directory


def console_script(tmp_path: Path) -> Path:
    """A PATH directory with `speckit-pods` as pip would generate it from pyproject."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    module, func = scripts["project"]["scripts"]["speckit-pods"].split(":")
    directory = bin_dir(tmp_path, **{"speckit-pods": (
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        f"from {module} import {func}\nsys.exit({func}())\n"
    )})  # fmt: skip
    return directory


def recording_stub(tmp_path: Path, code: int) -> tuple[Path, Path]:
    """A PATH directory whose `speckit-pods` writes its arguments to a file, exits CODE."""
    record = tmp_path / "argv"
    stub = f'#!/bin/sh\nfor a in "$@"; do printf \'%s\\n\' "$a"; done > {record}\nexit {code}\n'
    return bin_dir(tmp_path, **{"speckit-pods": stub}), record


@pytest.mark.parametrize("name", WRAPPERS)
def test_wrapper_without_home_or_command_names_both_ways_in_one_line(
    name: str, tmp_path: Path
) -> None:
    path = str(bin_dir(tmp_path))
    done = wrapper(name, "--help", home=None, path=path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("ERROR: speckit-pods not found: ")
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n")
    assert "pip install speckit-pods" in done.stderr
    assert "export SPECKIT_PODS_HOME=" in done.stderr
    empty = wrapper(name, "--help", home="", path=path)
    assert (empty.returncode, empty.stderr) == (1, done.stderr)  # empty counts as unset


ARGS = {
    "run-async.sh": ["plan", "--tasks", "two words"],
    "spawn-pod.sh": ["--task-id", "T012", "--tasks", "two words"],
    "tail-logs.sh": ["--task", "T012", "two words"],
}


@pytest.mark.parametrize("name", WRAPPERS)
def test_wrapper_runs_speckit_pods_from_path_when_home_is_unset(name: str, tmp_path: Path) -> None:
    path, record = recording_stub(tmp_path, code=27)
    done = wrapper(name, *ARGS[name], home=None, path=str(path))
    assert done.returncode == 27, done.stderr  # exec: the exit code is speckit-pods'
    assert record.read_text().splitlines() == [SUBCOMMANDS[name], *ARGS[name]]


@pytest.mark.parametrize("name", WRAPPERS)
def test_wrapper_runs_the_installed_console_script(name: str, tmp_path: Path) -> None:
    done = wrapper(name, "--help", home=None, path=str(console_script(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: speckit-pods {SUBCOMMANDS[name]} ")


@pytest.mark.parametrize("name", WRAPPERS)
def test_wrapper_prefers_the_checkout_when_home_is_set(name: str, tmp_path: Path) -> None:
    path, record = recording_stub(tmp_path, code=99)
    ok = wrapper(name, "--help", home=str(ROOT), path=f"{path}{os.pathsep}{os.environ['PATH']}")
    assert ok.returncode == 0 and f"Usage: {name}" in ok.stdout
    assert not record.exists()  # the speckit-pods on PATH was not used
    wrong = wrapper(name, "--help", home=str(tmp_path), path=str(path))
    assert wrong.returncode == 1 and not record.exists()
    assert wrong.stderr.startswith(f"ERROR: SPECKIT_PODS_HOME={tmp_path} does not hold ")
    assert wrong.stderr.count("\n") == 1


# --- build-zip.sh -----------------------------------------------------------------------


def build_zip(ext: Path, out: Path) -> dict[str, int]:
    """Run EXT/build-zip.sh OUT; return the zip's entries and their Unix modes."""
    pytest.importorskip("pathspec")
    env = {**os.environ, "SPECKIT_PODS_PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ext / "build-zip.sh"), str(out)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    archive = Path(done.stdout.strip())
    assert archive.parent == out.resolve()
    assert archive.name == "speckit-pods-extension-0.1.0.zip"
    with zipfile.ZipFile(archive) as opened:
        return {info.filename: info.external_attr >> 16 for info in opened.infolist()}


def test_build_zip_packs_the_installable_files(tmp_path: Path) -> None:
    entries = build_zip(EXT, tmp_path)
    packed = {"extension.yml", "agents/speckit-pods.md", "tools/speckit_pods.js"}
    assert packed | {"commands/dispatch.md"} <= set(entries)
    assert {f"scripts/bash/{name}" for name in WRAPPERS} <= set(entries)
    assert entries["scripts/bash/run-async.sh"] == 0o755 and entries["extension.yml"] == 0o644
    assert not {"build-zip.sh", "README.md", ".extensionignore"} & set(entries)
    assert not any(name.startswith("dist/") for name in entries)
    assert build_zip(EXT, tmp_path / "again") == entries


# patterns a release might list: a directory, a glob with a negation, `**`, an anchored path
IGNORE_EXTRA = """
notes/
*.tmp
!keep.tmp
**/draft.md
/scripts/bash/local-*.sh
  trailing-space.txt   \n"""


def extension_copy(tmp_path: Path) -> Path:
    """The extension in a temporary folder, with files .extensionignore lists and not."""
    ext = tmp_path / "ext"
    shutil.copytree(EXT, ext, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    with (ext / ".extensionignore").open("a", encoding="utf-8") as ignore:
        ignore.write(IGNORE_EXTRA)
    for name in ["notes/secret.md", "scratch.tmp", "keep.tmp", "commands/draft.md",
                 "scripts/bash/local-debug.sh", "trailing-space.txt", "commands/extra.md",
                 "templates/new.md", "scripts/bash/new-helper.sh", "deep/er/draft.md"]:  # fmt: skip
        (ext / name).parent.mkdir(parents=True, exist_ok=True)
        (ext / name).write_text(f"{name}\n", encoding="utf-8")
    (ext / "scripts/bash/new-helper.sh").chmod(0o755)
    return ext


def test_build_zip_honours_extensionignore(tmp_path: Path) -> None:
    entries = build_zip(extension_copy(tmp_path), tmp_path / "out")
    for new in ["commands/extra.md", "templates/new.md", "keep.tmp", "agents/speckit-pods.md"]:
        assert entries[new] == 0o644, new  # not listed: packed
    assert entries["scripts/bash/new-helper.sh"] == 0o755
    listed = ["notes/secret.md", "scratch.tmp", "commands/draft.md", "deep/er/draft.md",
              "scripts/bash/local-debug.sh", "trailing-space.txt", "build-zip.sh",
              "README.md", ".extensionignore"]  # fmt: skip
    assert not set(listed) & set(entries)


def test_build_zip_leaves_out_its_own_output_dir(tmp_path: Path) -> None:
    ext = extension_copy(tmp_path)
    (ext / ".extensionignore").write_text("# nothing\n", encoding="utf-8")
    entries = build_zip(ext, ext / "release")
    assert build_zip(ext, ext / "release") == entries  # the second does not pack the first
    assert not any(name.startswith("release/") for name in entries)
    assert "build-zip.sh" in entries and "notes/secret.md" in entries


# --- the real spec-kit client -----------------------------------------------------------


def tree(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if ".git" not in p.relative_to(root).parts and (p.is_file() or p.is_symlink())
    }


@pytest.fixture
def speckit_project(tmp_path: Path) -> Path:
    require_tool("specify", "pip install specify-cli==1.2.3")
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True, timeout=60)
    specify(project, "init", "--here", "--force", "--non-interactive", "--integration",
            "opencode", "--script", "sh", "--ignore-agent-tools")  # fmt: skip
    return project


def specify(project: Path, *args: str, answer: str | None = None) -> str:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        ["specify", *args], cwd=project, capture_output=True, text=True, timeout=180, env=env,
        input=answer,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# spec-kit's own bookkeeping, which `extension remove` empties but keeps, and its backup
# of the developer's config file
SPECKIT_REGISTRY = {
    ".specify/extensions.yml",
    ".specify/extensions/.registry",
    ".specify/extensions/.backup/pods/pods-config.yml",
}


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
    assert (installed / "tools" / "speckit_pods.js").is_file()
    assert os.access(installed / "scripts" / "bash" / "run-async.sh", os.X_OK)
    assert not (installed / "build-zip.sh").exists()  # .extensionignore
    # provides.config: the developer's copy of the template, next to the wrappers
    template = (EXT / "config-template.yml").read_bytes()
    assert (installed / "pods-config.yml").read_bytes() == template

    # spec-kit 1.2.3 runs nothing at install time (no install hook): no subagent yet, and
    # the setup check says in one line what to run, and that OpenCode must be restarted
    agent = speckit_project / ".opencode" / "agent" / "speckit-pods.md"
    tool = speckit_project / ".opencode" / "tool" / "speckit_pods.js"
    assert not agent.exists() and not tool.exists()
    command = setup_command(speckit_project, state="not installed")
    assert command == ".specify/extensions/pods/scripts/bash/install-agent.sh"
    assert ".specify/extensions/pods/scripts/bash/install-agent.sh --check" in (
        commands / "speckit.pods.dispatch.md"
    ).read_text(encoding="utf-8")
    done = run_in(speckit_project, *shlex.split(command))
    installed_paths = ".opencode/agent/speckit-pods.md\n.opencode/tool/speckit_pods.js\n"
    assert done.returncode == 0 and done.stdout == installed_paths
    assert "restart OpenCode" in done.stderr
    assert run_in(speckit_project, command, "--check").returncode == 0
    assert agent.read_bytes() == (EXT / "agents" / "speckit-pods.md").read_bytes()
    assert tool.read_bytes() == (EXT / "tools" / "speckit_pods.js").read_bytes()
    for stale in (agent, tool):  # either file older, or missing: the subagent is outdated
        current = stale.read_bytes()
        stale.write_text("an older version\n", encoding="utf-8")
        assert setup_command(speckit_project, state="outdated") == command
        stale.unlink()
        assert setup_command(speckit_project, state="outdated") == command
        stale.write_bytes(current)
    assert run_in(speckit_project, command, "--check").returncode == 0
    run_in(speckit_project, command, "--remove")
    assert not (speckit_project / ".opencode" / "agent").exists()
    assert not (speckit_project / ".opencode" / "tool").exists()

    specify(speckit_project, "extension", "remove", "pods", "--force")
    after = tree(speckit_project)
    assert after - SPECKIT_REGISTRY == before
    config = yaml.safe_load((speckit_project / ".specify" / "extensions.yml").read_text())
    assert not config.get("hooks") and not config.get("installed")


def run_in(project: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=60)


def setup_command(project: Path, state: str) -> str:
    """Run `install-agent.sh --check`, expect exit 3 and its one line; return the command."""
    check = project / ".specify/extensions/pods/scripts/bash/install-agent.sh"
    done = run_in(project, str(check), "--check")
    assert done.returncode == 3 and done.stdout == ""
    line = done.stderr
    assert line.count("\n") == 1 and line.endswith(", then restart OpenCode\n"), line
    assert line.startswith(f"ERROR: the speckit-pods subagent is {state}: run `")
    return line.split("`")[1]


def installed_files(project: Path) -> set[str]:
    """The copied extension files, without the command cache `add --dev` writes there and
    the config file scaffolded from config-template.yml."""
    files = tree(project / ".specify" / "extensions" / "pods")
    assert "pods-config.yml" in files
    return {n for n in files if not n.startswith(".specify-dev/") and n != "pods-config.yml"}


@pytest.mark.specify
def test_build_zip_packs_what_specify_installs(speckit_project: Path, tmp_path: Path) -> None:
    ext = extension_copy(tmp_path)
    zip_entries = build_zip(ext, tmp_path / "out")
    specify(speckit_project, "extension", "add", "--dev", str(ext))
    assert installed_files(speckit_project) == set(zip_entries)  # same .extensionignore rules


@pytest.mark.specify
def test_release_zip_installs_like_the_folder(speckit_project: Path, tmp_path: Path) -> None:
    zip_entries = build_zip(EXT, tmp_path / "out")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "out"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/speckit-pods-extension-0.1.0.zip"
        specify(speckit_project, "extension", "add", "pods", "--from", url, answer="y\n")
    finally:
        server.shutdown()
        server.server_close()
    assert installed_files(speckit_project) == set(zip_entries)
    config = yaml.safe_load((speckit_project / ".specify" / "extensions.yml").read_text())
    assert config["hooks"]["before_implement"][0]["command"] == "speckit.pods.dispatch"
