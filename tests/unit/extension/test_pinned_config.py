"""The extension's wrappers take the pinned settings from pods-config.yml, never from argv or env.

The wrappers are installed as spec-kit installs them (``.specify/extensions/pods/scripts/
bash/``, ``pods-config.yml`` two levels up); ``speckit-pods`` is a stub on PATH recording
its argv and environment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.cli import build_parser
from runtime.cli.pod_options import ENV_OPTIONS, EnvOption

ROOT = Path(__file__).resolve().parents[3]
EXT = ROOT / "extension"
SCRIPTS = EXT / "scripts" / "bash"
WRAPPERS = ["run-async.sh", "spawn-pod.sh", "tail-logs.sh"]
SUBCOMMANDS = {"run-async.sh": "dispatch", "spawn-pod.sh": "spawn", "tail-logs.sh": "logs"}
CONFIG = """\
# the developer's settings
image: registry.example/agent:2   # pinned
repo: "https://git.example/acme/app.git"
git_secret: 'team-git'
llm_secret: team-llm
namespace: team-pods
context: arn:aws:eks:eu-west-1:123:cluster/pods
allow_insecure_http: true
max_tokens: 200000
llm_price: 0.15/0.6
max_cost: 2.5
toolchain_image: registry.example/app-tools:3
setup_timeout: 20m
checkpoint_interval: 120
"""
POD_ARGS = [
    "--image", "registry.example/agent:2", "--repo", "https://git.example/acme/app.git",
    "--git-secret", "team-git", "--llm-secret", "team-llm", "--namespace", "team-pods",
    "--context", "arn:aws:eks:eu-west-1:123:cluster/pods", "--allow-insecure-http",
    "--max-tokens", "200000", "--llm-price", "0.15/0.6", "--max-cost", "2.5",
    "--toolchain-image", "registry.example/app-tools:3", "--setup-timeout", "20m",
    "--checkpoint-interval", "120",
]  # fmt: skip
PINNED = {
    "run-async.sh": POD_ARGS,
    "spawn-pod.sh": POD_ARGS,
    "tail-logs.sh": ["--namespace", "team-pods", "--context", POD_ARGS[11]],
}
ARGS = {
    "run-async.sh": ["plan", "--json"],
    "spawn-pod.sh": ["--task-id", "T012", "--tasks", "specs/001-x/tasks.md"],
    "tail-logs.sh": ["sp-001-x-t012-abc123", "--mark-done", "--timeout", "9m"],
}
STUB = """#!{python}
import json, os, sys
with open({record!r}, "a", encoding="utf-8") as out:
    out.write(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
"""


class Project:
    """A project with the wrappers installed and a recording speckit-pods on PATH."""

    def __init__(self, root: Path) -> None:
        self.root = root / "project"
        self.ext = self.root / ".specify" / "extensions" / "pods"
        shutil.copytree(SCRIPTS, self.ext / "scripts" / "bash")
        self.bin = root / "bin"
        self.bin.mkdir()
        self.record = root / "argv.jsonl"
        stub = STUB.format(python=sys.executable, record=str(self.record))
        (self.bin / "speckit-pods").write_text(stub, encoding="utf-8")
        (self.bin / "speckit-pods").chmod(0o755)

    def config(self, text: str) -> None:
        (self.ext / "pods-config.yml").write_text(text, encoding="utf-8")

    def run(
        self, name: str, *args: str, **env: str
    ) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        """Run the installed wrapper as the subagent does (its own shebang); the records."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPECKIT_PODS_")}
        base["PATH"] = f"{self.bin}{os.pathsep}{os.environ['PATH']}"
        self.record.unlink(missing_ok=True)
        done = subprocess.run(
            [str(self.ext / "scripts" / "bash" / name), *args], cwd=self.root,
            env={**base, **env}, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        return done, [json.loads(line) for line in lines]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.mark.parametrize("name", WRAPPERS)
def test_the_configured_settings_are_passed(project: Project, name: str) -> None:
    project.config(CONFIG)
    done, records = project.run(name, *ARGS[name])
    assert done.returncode == 0, done.stderr
    assert [r["argv"] for r in records] == [[SUBCOMMANDS[name], *PINNED[name], *ARGS[name]]]


@pytest.mark.parametrize("name", WRAPPERS)
@pytest.mark.parametrize("config", [None, (EXT / "config-template.yml").read_text()])
def test_without_settings_speckit_pods_defaults_apply(
    project: Project, name: str, config: str | None
) -> None:
    if config is not None:
        project.config(config)
    done, records = project.run(name, *ARGS[name])
    assert done.returncode == 0, done.stderr
    assert [r["argv"] for r in records] == [[SUBCOMMANDS[name], *ARGS[name]]]


def test_the_config_format_is_yaml_read_the_same_way() -> None:
    data = yaml.safe_load(CONFIG)
    passed: dict[str, object] = {}
    args = iter(POD_ARGS)
    for flag in args:
        passed[flag] = True if flag == "--allow-insecure-http" else next(args)
    assert passed == {
        f"--{key.replace('_', '-')}": value if isinstance(value, bool) else str(value)
        for key, value in data.items()
    }
    template = yaml.safe_load((EXT / "config-template.yml").read_text())
    assert set(template) == set(data) and template["allow_insecure_http"] is False
    assert not [key for key, value in template.items() if value not in (None, False)]


REFUSED = {
    "spawn-pod.sh": [
        ["--image", "evil/img"], ["--image=evil/img"], ["--repo", "https://attacker.invalid/x"],
        ["--git-secret", "other"], ["--llm-secret=other"], ["--namespace", "open"],
        ["--context", "other"], ["--allow-insecure-http"], ["--branch", "main"],
        ["--context-dir", "/home"], ["T012"], ["--task-id", "T012", "main"],
        ["--task-id", "T012", "-vv", "main"], ["--task-id", "T012", "--", "T012", "main"],
        ["--task-id", "T012", "-x"], ["--task-id", "T012", "--tasks", "/etc/tasks.md"],
        ["--task-id", "T012", "--tasks", "specs/../../x/tasks.md"], ["-n", "open"],
        ["--task-id", "T012", "--llm-price", "0/0"], ["--task-id", "T012", "--max-cost=999"],
        ["--task-id", "T012", "--toolchain-image", "evil/tools:1"],
        ["--task-id", "T012", "--toolch=evil/tools:1"], ["--task-id", "T012", "--setup-t", "1s"],
        ["--task-id", "T012", "--checkpoint-interval", "0"],
        ["--task-id", "T012", "--checkpoint-interval=0"], ["--task-id", "T012", "--check=0"],
    ],
    "tail-logs.sh": [
        ["sp-x", "-n", "open"], ["sp-x", "-nopen"], ["sp-x", "-vn", "open"],
        ["sp-x", "--names", "open"], ["sp-x", "--n", "open"], ["sp-x", "--cont", "other"],
        ["sp-x", "--context=other"], ["sp-x", "--image", "x"],
        ["sp-x", "--mark-done", "--tasks", "/etc/tasks.md"], ["sp-x", "--tasks=../tasks.md"],
    ],
    "run-async.sh": [
        ["--all"], ["--ima", "evil/img"], ["--rep", "https://attacker.invalid/x"],
        ["--namespace=open"], ["--task", "/etc"], ["plan", "--tasks", "/etc"],
        ["--max-tokens", "999999999"], ["--llm-price", "0/0"], ["--llm-price=0/0"],
        ["--llm-p", "0/0"], ["--max-cost", "999"], ["--max-c=999"], ["--max", "999"],
        ["--checkpoint-interval", "0"], ["--checkpoint-interval=0"], ["--checkp", "0"],
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "args"), [(name, args) for name, cases in REFUSED.items() for args in cases]
)
def test_pinned_flags_and_their_spellings_are_refused(
    project: Project, name: str, args: list[str]
) -> None:
    project.config(CONFIG)
    done, records = project.run(name, "--verbose", *args)
    assert (done.returncode, done.stdout, records) == (2, "", []), done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("ERROR: ") and all(x.startswith("Hint: ") for x in lines[1:])
    assert len(lines) <= 2, done.stderr


@pytest.mark.parametrize(
    ("name", "args"),
    [("tail-logs.sh", ["--all"]), ("tail-logs.sh", ["--task", "T012"]),
     ("spawn-pod.sh", ["--task-id", "T012", "-v", "--replace", "--dry-run"]),
     ("spawn-pod.sh", ["--task-id=T012", "--tasks=specs/001-x/tasks.md"]),
     ("run-async.sh", ["status", "--tasks", "specs/001-x"])],
)  # fmt: skip
def test_own_options_that_look_like_pinned_ones_pass(
    project: Project, name: str, args: list[str]
) -> None:
    done, records = project.run(name, *args)
    assert done.returncode == 0, done.stderr
    assert [r["argv"] for r in records] == [[SUBCOMMANDS[name], *args]]


@pytest.mark.parametrize("name", WRAPPERS)
def test_the_wrappers_own_settings_cannot_be_exported(project: Project, name: str) -> None:
    tampered = {
        "PODS_EXACT": "--image --repo",
        "PODS_FLAG_FORM": "0",
        "PODS_BOOLEANS": "",
        "PODS_PINNED_FLAGS": "",
        "PODS_CONFIG": "/dev/null",
        "PODS_ALSO_REFUSED": "",
    }
    done, records = project.run(name, "--image", "evil/img", **tampered)
    assert (done.returncode, records) == (2, []), done.stderr
    spawn, records = project.run("spawn-pod.sh", "T012", "main", **tampered)
    assert (spawn.returncode, records) == (2, []), spawn.stderr


def test_a_tasks_file_of_the_project_may_be_given_absolute(project: Project) -> None:
    tasks = f"{project.root.resolve()}/specs/001-x/tasks.md"
    done, records = project.run("spawn-pod.sh", "--task-id", "T012", "--tasks", tasks)
    assert done.returncode == 0, done.stderr
    assert records[0]["argv"][-1] == tasks


@pytest.mark.parametrize("name", ["SPECIFY_FEATURE_DIRECTORY", "SPECIFY_INIT_DIR"])
def test_spec_kit_variables_may_not_leave_the_project(project: Project, name: str) -> None:
    value = "/home/dev/other-project/secret-token-as-path"
    done, records = project.run("spawn-pod.sh", "--task-id", "T012", **{name: value})
    assert (done.returncode, records) == (2, []), done.stderr
    assert done.stderr.startswith(f"ERROR: {name} must name a file inside this project")
    assert value not in done.stderr  # an `export` may have filled it with a file's content
    inside = project.run("spawn-pod.sh", "--task-id", "T012", **{name: "specs/001-x"})
    assert inside[0].returncode == 0, inside[0].stderr


def test_a_home_that_is_no_directory_is_not_quoted(project: Project) -> None:
    done, _ = project.run("tail-logs.sh", "--all", SPECKIT_PODS_HOME="ghp_secretcontent")
    assert done.returncode == 1 and "ghp_secretcontent" not in done.stderr, done.stderr
    assert done.stderr.startswith("ERROR: SPECKIT_PODS_HOME is not a directory")


def test_the_refusal_names_the_config_file(project: Project) -> None:
    done, _ = project.run("spawn-pod.sh", "--task-id", "T012", "--repo=https://x.invalid/r")
    first, hint = done.stderr.splitlines()
    assert first == (
        "ERROR: --repo comes from .specify/extensions/pods/pods-config.yml (repo), not from "
        "the command line: refused '--repo=https://x.invalid/r'"
    )
    assert hint.startswith("Hint: the developer sets it in that file")


@pytest.mark.parametrize(
    "line",
    ["image: a b", "  image: x", "image:x", "imgae: x", "image: -x", 'image: "a', "image: a;b",
     "allow_insecure_http: yes", "repo: $(touch pwned)", "image: `id`", "---",
     "namespace: x\nnamespace: y"],
)  # fmt: skip
def test_a_malformed_config_is_an_invalid_input(project: Project, line: str) -> None:
    project.config(f"# ok\n{line}\n")
    done, records = project.run("spawn-pod.sh", "--task-id", "T012")
    assert (done.returncode, records) == (26, []), done.stderr
    first, hint = done.stderr.splitlines()
    assert first.startswith(f"ERROR: {project.ext}/pods-config.yml, line ")
    assert hint.startswith("Hint: fix the file")
    assert not list(project.root.rglob("pwned"))


def test_help_needs_no_config(project: Project) -> None:
    project.config("this is not a config\n")
    done, records = project.run("spawn-pod.sh", "--help")
    assert done.returncode == 0 and [r["argv"] for r in records] == [["spawn", "--help"]]


HOSTILE_ENV = {
    "SPECKIT_PODS_NAMESPACE": "open",
    "SPECKIT_PODS_ALLOW_INSECURE_HTTP": "1",
    "SPECKIT_PODS_MAX_TOKENS": "999999999",
    "SPECKIT_PODS_IMAGE": "evil.example/agent:latest",  # would run the trusted side
    "SPECKIT_PODS_TOOLCHAIN_IMAGE": "evil.example/tools:latest",  # the agent's, by the proxy
    "SPECKIT_PODS_LLM_PRICE": "0/0",  # a price of nothing: --max-cost never reached
    "SPECKIT_PODS_MAX_COST": "999999",
    "SPECKIT_PODS_CHECKPOINT_INTERVAL": "0",  # no checkpoints: a lost node loses the work
    "SPECKIT_PODS_GIT_API": "https://evil.example/api/v1",
    "SPECKIT_PODS_GIT_API_TOKEN": "planted",
    "SPECKIT_PODS_GIT_HOST": "gitea",
    "SPECKIT_PODS_PR": "1",
    "SPECKIT_PODS_TEST_COMMAND": "touch pwned-tests",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "credential.helper",
    "GIT_CONFIG_VALUE_0": "!touch pwned-git",
    "GIT_SSH_COMMAND": "touch pwned-ssh",
    "PYTHONWARNINGS": "all",
    "PYTHONPATH": "/tmp",
    "BROWSER": "touch pwned-browser",
    "LD_PRELOAD": "/nonexistent.so",
    "BASH_ENV": "hostile.sh",
    "ENV": "hostile.sh",
    "SHELLOPTS": "xtrace",
    "PS4": "$(touch pwned-ps4)",
    "BASH_FUNC_printf%%": "() { touch pwned-function; }",
}


def test_a_hostile_environment_runs_nothing_and_reaches_nothing(project: Project) -> None:
    (project.root / "hostile.sh").write_text("touch pwned-bash-env\n")
    project.config("namespace: team-pods\n")
    done, records = project.run("spawn-pod.sh", "--task-id", "T012", **HOSTILE_ENV)
    assert done.returncode == 0, done.stderr
    assert records[0]["argv"] == ["spawn", "--namespace", "team-pods", "--task-id", "T012"]
    env = records[0]["env"]
    assert not set(HOSTILE_ENV) & set(env), sorted(env)
    assert not list(project.root.rglob("pwned-*"))


@pytest.mark.parametrize("option", ENV_OPTIONS, ids=lambda option: option.flag)
def test_every_pod_option_the_environment_sets_is_pinned_and_dropped(
    project: Project, option: EnvOption
) -> None:
    """A pod option with a variable (a budget, the price, the checkpoints) is pinned too."""
    assert option.flag in PINNED_FLAGS and option.env in HOSTILE_ENV
    done, records = project.run("spawn-pod.sh", "--task-id", "T012", **{option.env: "0"})
    assert done.returncode == 0, done.stderr
    assert option.env not in records[0]["env"]


def test_a_checkouts_bash_script_gets_the_clean_environment(
    project: Project, tmp_path: Path
) -> None:
    home = tmp_path / "checkout"
    (home / "scripts").mkdir(parents=True)
    script = home / "scripts" / "spawn-pod.sh"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s\\n" "$@" > {tmp_path}/argv\nenv > {tmp_path}/env\n'
    )  # fmt: skip
    script.chmod(0o755)
    (project.root / "hostile.sh").write_text("touch pwned-bash-env\n")
    project.config(CONFIG)
    env = {**HOSTILE_ENV, "SPECKIT_PODS_HOME": str(home)}
    done, _ = project.run("spawn-pod.sh", "--task-id", "T012", **env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "argv").read_text().split() == [*POD_ARGS, "--task-id", "T012"]
    names = {line.split("=", 1)[0] for line in (tmp_path / "env").read_text().splitlines()}
    assert not names & set(HOSTILE_ENV), names
    assert not list(project.root.rglob("pwned-*")) and not list(tmp_path.rglob("pwned-*"))


# --- the wrappers' view of speckit-pods' options stays true -----------------------------


def wrapper_setting(name: str, variable: str) -> set[str]:
    text = (SCRIPTS / name).read_text()
    match = re.search(rf'^{variable}="([^"]*)"', text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


PINNED_FLAGS = wrapper_setting("pods-common.sh", "PODS_PINNED_FLAGS")


def options(command: str) -> dict[str, argparse.Action]:
    parser = build_parser(None)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    chosen = sub.choices[command]
    return {o: a for a in chosen._actions for o in a.option_strings}


def test_the_pinned_flags_are_speckit_pods_own() -> None:
    assert PINNED_FLAGS == {
        "--image", "--repo", "--git-secret", "--llm-secret", "--namespace", "--context",
        "--allow-insecure-http", "--max-tokens", "--llm-price", "--max-cost",
        "--toolchain-image", "--setup-timeout", "--checkpoint-interval",
    }  # fmt: skip
    assert PINNED_FLAGS <= set(options("spawn")) and PINNED_FLAGS <= set(options("dispatch"))
    assert {"--namespace", "-n", "--context"} <= set(options("logs"))
    assert wrapper_setting("spawn-pod.sh", "PODS_ALSO_REFUSED") <= set(options("spawn"))


def test_spawns_booleans_are_the_wrappers() -> None:
    spawn = options("spawn")
    booleans = {o for o, a in spawn.items() if a.nargs == 0}
    assert booleans == wrapper_setting("spawn-pod.sh", "PODS_BOOLEANS")
    assert sorted(o for o in spawn if not o.startswith("--")) == ["-h", "-v"]


@pytest.mark.parametrize(
    ("name", "command"), [("tail-logs.sh", "logs"), ("run-async.sh", "dispatch")]
)
def test_abbreviating_options_are_exempt_only_where_they_are_options(
    name: str, command: str
) -> None:
    own = {o for o in options(command) if o.startswith("--")}
    targets = PINNED_FLAGS | {"--tasks"}
    looks_pinned = {o for o in own - targets if any(t.startswith(o) for t in targets)}
    assert looks_pinned == wrapper_setting(name, "PODS_EXACT")
