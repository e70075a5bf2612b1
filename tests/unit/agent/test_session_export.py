"""``opencode export`` on the agent side: best effort, bounded, into the handoff dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.agent import session_export
from runtime.agent.events import StreamState


def fake(tmp_path: Path, body: str) -> str:
    path = tmp_path / "opencode"
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def export(tmp_path: Path, binary: str, session_id: str = "ses_abc", **kw: bool) -> list[str]:
    lines: list[str] = []
    session_export.export(
        binary, session_id, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, directory=tmp_path,
        stopping=kw.get("stopping", False), emit=lines.append,
    )  # fmt: skip
    return lines


def test_the_export_of_the_runs_session_lands_in_the_handoff_dir(tmp_path: Path) -> None:
    binary = fake(tmp_path, 'test "$1 $2" = "export ses_abc" && echo \'{"info": {}}\'')
    lines = export(tmp_path, binary)
    assert (tmp_path / "session.json").read_text() == '{"info": {}}\n'
    assert lines == ["[agent] opencode session ses_abc exported (0 KiB)"]


@pytest.mark.parametrize("session_id", ["", "--help", "ses abc", "x" * 200])
def test_no_usable_session_id_runs_nothing(tmp_path: Path, session_id: str) -> None:
    lines = export(tmp_path, fake(tmp_path, "touch ran"), session_id)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "session.json").exists()
    assert lines == ["[agent] no opencode session to export (no session ID in its events)"]


@pytest.mark.parametrize(
    ("body", "why"),
    [("exit 3", "exited with code 3"), ("true", "printed nothing"), ("sleep 30", "longer than")],
)
def test_a_failed_export_is_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, why: str
) -> None:
    monkeypatch.setattr(session_export, "STOPPING_TIMEOUT_S", 0.5)
    lines = export(tmp_path, fake(tmp_path, body), stopping=True)
    assert len(lines) == 1 and lines[0].startswith("[agent] WARNING: the opencode session was not")
    assert why in lines[0] and not (tmp_path / "session.json").exists()


def test_the_session_id_comes_from_the_first_event() -> None:
    state = StreamState()
    state.on_stdout('{"type": "step_start", "sessionID": "ses_1", "part": {}}')
    state.on_stdout('{"type": "text", "sessionID": "ses_2", "part": {"text": "x"}}')
    assert state.session_id == "ses_1"
