"""The scripted subagent follows agents/speckit-pods.md: its two tools, in the prompt's order.

No opencode here (``test_subagent_permissions.py`` runs the real binary with the tools).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.support.scripted_llm import SUBAGENT_ATTACKS, Marker, Reply, parse_marker, plan

AGENT = Path(__file__).resolve().parents[3] / "extension" / "agents" / "speckit-pods.md"
POD = "sp-001-x-t012-abc123"
RESULT = f'[T012] RESULT status=failed exit=1 branch=b commit=c pod={POD} reason="no luck"'
SPAWN, FOLLOW = "speckit_pods_spawn", "speckit_pods_follow"


def allowed_tools() -> set[str]:
    meta = yaml.safe_load(AGENT.read_text(encoding="utf-8").split("---\n", 2)[1])
    permission = meta["permission"]
    assert isinstance(permission, dict)
    return {tool for tool, rule in permission.items() if rule == "allow"} - {"doom_loop"}


def tool_call(reply: Reply) -> tuple[str, dict[str, Any]]:
    call: dict[str, Any] = reply.chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    return str(call["function"]["name"]), json.loads(call["function"]["arguments"])


def text(reply: Reply) -> str:
    return str(reply.chunks[0]["choices"][0]["delta"]["content"])


MARKER = parse_marker(
    "Run task T012 of specs/001-x/tasks.md. scripted:speckit-subagent,tasks=specs/001-x/tasks.md"
)


def test_the_prompt_names_the_tools_it_may_call() -> None:
    assert allowed_tools() == {SPAWN, FOLLOW}
    prompt = AGENT.read_text(encoding="utf-8").split("---\n", 2)[2]
    assert f"`{SPAWN}`" in prompt and f"`{FOLLOW}`" in prompt and "`bash`" not in prompt


def test_the_subagent_spawns_follows_until_a_result_and_digests() -> None:
    assert MARKER is not None and MARKER.task_id == "T012"
    assert tool_call(plan(MARKER, 0)) == (
        SPAWN,
        {"task_id": "T012", "tasks": "specs/001-x/tasks.md"},
    )
    follow = (FOLLOW, {"pod": POD})
    history = [f"INFO: created\n{POD}\nexit code: 0"]
    assert tool_call(plan(MARKER, 1, history[-1], history)) == follow
    history.append("[T012] still working\nexit code: 27")  # no RESULT line: follow again
    assert tool_call(plan(MARKER, 2, history[-1], history)) == follow
    history.append(f"[T012] gave up\n{RESULT}\nexit code: 1")
    digest = text(plan(MARKER, 3, history[-1], history))
    assert digest.splitlines()[:6] == [
        "task: T012", "status: failed", "exit_code: 1", "branch: b", "commit: c", "reason: no luck",
    ]  # fmt: skip
    assert digest.endswith("last_lines:\n  [T012] gave up")


def test_a_spawn_error_ends_not_started() -> None:
    assert MARKER is not None
    error = "ERROR: --repo comes from ...\nHint: the developer sets it\nexit code: 2"
    digest = text(plan(MARKER, 1, error, [error]))
    assert "status: not-started" in digest and "  ERROR: --repo comes from ..." in digest


def test_speckit_main_hands_on_the_script_it_is_told() -> None:
    marker = Marker("speckit-main", {"ids": "T012", "repo": "", "tasks": "t.md", "feature": "f"})
    default = plan(marker, 0).chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert "scripted:speckit-pod,repo=" in default["function"]["arguments"]
    marker.params["pod"] = "subagent-attack"
    chosen = plan(marker, 0).chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert "scripted:subagent-attack,repo=" in chosen["function"]["arguments"]


def test_every_attack_says_which_defence_stops_it() -> None:
    assert {kind for kind, _ in SUBAGENT_ATTACKS} == {"denied", "refused", "neutralised", "leaks"}
    assert len({command for _, command in SUBAGENT_ATTACKS}) == len(SUBAGENT_ATTACKS)
