"""The scripted subagent follows agents/speckit-pods.md, and its calls pass the agent's rules.

No opencode here: the rules are evaluated the way opencode 1.18.33 evaluates them (measured
and read from its bundle; ``test_subagent_permissions.py`` runs the real binary).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.scripted_llm import (
    EXTENSION_SCRIPTS,
    SUBAGENT_ATTACKS,
    Marker,
    Reply,
    parse_marker,
    plan,
)

AGENT = Path(__file__).resolve().parents[3] / "extension" / "agents" / "speckit-pods.md"
POD = "sp-001-x-t012-abc123"
FOLLOW = "--mark-done --verify-remote --no-color --timeout 9m"
RESULT = f'[T012] RESULT status=failed exit=1 branch=b commit=c pod={POD} reason="no luck"'


def bash_rules() -> dict[str, str]:
    meta = yaml.safe_load(AGENT.read_text(encoding="utf-8").split("---\n", 2)[1])
    rules = meta["permission"]["bash"]
    assert isinstance(rules, dict)
    return rules


def opencode_match(text: str, pattern: str) -> bool:
    """opencode 1.18.33's Wildcard.match: anchored, `*` any text, `?` one character."""
    text, pattern = text.replace("\\", "/"), pattern.replace("\\", "/")
    regex = re.sub(r"[.+^${}()|\[\]\\]", lambda m: "\\" + m.group(0), pattern)
    regex = regex.replace("*", ".*").replace("?", ".")
    if regex.endswith(" .*"):
        regex = regex[:-3] + "( .*)?"
    return re.fullmatch(regex, text, re.DOTALL) is not None


def decision(command: str) -> str | None:
    """The last matching rule's action, for ONE command (opencode splits lines first)."""
    matched = [rule for pattern, rule in bash_rules().items() if opencode_match(command, pattern)]
    return matched[-1] if matched else None


def bash_command(reply: Reply) -> str:
    call: dict[str, Any] = reply.chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert call["function"]["name"] == "bash"
    return str(yaml.safe_load(call["function"]["arguments"])["command"])


def text(reply: Reply) -> str:
    return str(reply.chunks[0]["choices"][0]["delta"]["content"])


MARKER = parse_marker(
    "Run task T012 of specs/001-x/tasks.md. scripted:speckit-subagent,tasks=specs/001-x/tasks.md"
)


def test_the_subagent_spawns_follows_until_a_result_and_digests() -> None:
    assert MARKER is not None and MARKER.task_id == "T012"
    spawn = bash_command(plan(MARKER, 0))
    assert spawn == f"{EXTENSION_SCRIPTS}/spawn-pod.sh --task-id T012 --tasks specs/001-x/tasks.md"
    follow = f"{EXTENSION_SCRIPTS}/tail-logs.sh {POD} {FOLLOW}"
    history = [f"INFO: created\n{POD}\n"]
    assert bash_command(plan(MARKER, 1, history[-1], history)) == follow
    history.append("[T012] still working\n")  # no RESULT line: still running, follow again
    assert bash_command(plan(MARKER, 2, history[-1], history)) == follow
    history.append(f"[T012] gave up\n{RESULT}\n")
    digest = text(plan(MARKER, 3, history[-1], history))
    assert digest.splitlines()[:6] == [
        "task: T012", "status: failed", "exit_code: 1", "branch: b", "commit: c", "reason: no luck",
    ]  # fmt: skip
    assert digest.endswith("last_lines:\n  [T012] gave up")


def test_a_spawn_error_ends_not_started() -> None:
    assert MARKER is not None
    error = "ERROR: --repo comes from ...\nHint: the developer sets it\n"
    digest = text(plan(MARKER, 1, error, [error]))
    assert "status: not-started" in digest and "  ERROR: --repo comes from ..." in digest


def test_speckit_main_hands_on_the_script_it_is_told() -> None:
    marker = Marker("speckit-main", {"ids": "T012", "repo": "", "tasks": "t.md", "feature": "f"})
    default = plan(marker, 0).chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert "scripted:speckit-pod,repo=" in default["function"]["arguments"]
    marker.params["pod"] = "subagent-attack"
    chosen = plan(marker, 0).chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert "scripted:subagent-attack,repo=" in chosen["function"]["arguments"]


@pytest.mark.parametrize(
    "command",
    [
        f"{EXTENSION_SCRIPTS}/spawn-pod.sh --task-id T012",
        f"{EXTENSION_SCRIPTS}/spawn-pod.sh --task-id T1234 --tasks specs/001-x/tasks.md",
        f"{EXTENSION_SCRIPTS}/spawn-pod.sh --task-id T012 --tasks /home/dev/p/specs/001-x/tasks.md",
        f"{EXTENSION_SCRIPTS}/tail-logs.sh {POD} {FOLLOW}",
    ],
)
def test_the_subagents_own_calls_are_allowed(command: str) -> None:
    assert decision(command) == "allow"


@pytest.mark.parametrize(
    "command",
    [
        f"{EXTENSION_SCRIPTS}/spawn-pod.sh --task-id T012 --dry-run",
        f"{EXTENSION_SCRIPTS}/spawn-pod.sh --task-id T012 --tasks x --image y specs/a/tasks.md",
        f"{EXTENSION_SCRIPTS}/tail-logs.sh sp-x -nfoo {FOLLOW}",
        f"{EXTENSION_SCRIPTS}/tail-logs.sh sp-x > f {FOLLOW}",
        f"{EXTENSION_SCRIPTS}/tail-logs.sh sp-x {FOLLOW} --tasks x",
        f"{EXTENSION_SCRIPTS}/run-async.sh status",
        f"./{EXTENSION_SCRIPTS}/spawn-pod.sh --task-id T012",
        "cat ~/.kube/config",
        "git status",
        "ls",
    ],
)
def test_anything_else_is_denied(command: str) -> None:
    assert decision(command) == "deny"


def test_every_attack_says_which_defence_stops_it() -> None:
    assert {kind for kind, _ in SUBAGENT_ATTACKS} == {"denied", "refused", "neutralised", "leaks"}
    assert len({command for _, command in SUBAGENT_ATTACKS}) == len(SUBAGENT_ATTACKS)
