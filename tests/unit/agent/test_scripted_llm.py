"""The scripted OpenAI-compatible server the agent tests and the e2e talk to."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import scripted_llm
from tests.support.scripted_llm import Marker, parse_marker, plan, write_target


@pytest.fixture(scope="module")
def server() -> Iterator[scripted_llm.ScriptedLLMServer]:
    srv = scripted_llm.start()
    yield srv
    srv.stop()


def body(prompt: str, assistants: int = 0, system: str = "You are opencode") -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": [{"type": "text", "text": prompt}]},
    ]
    for n in range(assistants):
        messages += [{"role": "assistant", "content": ""}, {"role": "tool", "content": f"r{n}"}]
    return {"model": "scripted", "stream": True, "messages": messages}


def post(url: str, payload: dict[str, Any], timeout: float = 10) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers["Content-Type"], err.read()


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    events = [line[6:] for line in raw.decode().split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_marker_syntax() -> None:
    text = "# Task T042: x\n- [ ] T042 do scripted:write,path=a/b.txt,content=x%20y%0A,extra=1"
    marker = parse_marker(text)

    assert marker == Marker("write", {"path": "a/b.txt", "content": "x y\n", "extra": "1"}, "T042")
    assert write_target(marker) == ("a/b.txt", "x y\n")


def test_write_defaults_derive_from_the_task_id() -> None:
    marker = parse_marker("Task T007 scripted:write")

    assert marker is not None
    assert write_target(marker) == ("scripted/T007.txt", "T007 written by scripted:write\n")
    assert parse_marker("no marker here") is None


def test_write_script_turns() -> None:
    marker = parse_marker("T001 scripted:write")
    turns = [plan(marker, n).chunks for n in range(3)]

    calls = [c["choices"][0]["delta"].get("tool_calls") for t in turns[:2] for c in t[:1]]
    assert [call[0]["function"]["name"] for call in calls if call] == ["write", "bash"]
    assert json.loads(calls[0][0]["function"]["arguments"]) == {
        "filePath": "scripted/T001.txt",
        "content": "T001 written by scripted:write\n",
    }
    assert turns[2][1]["choices"][0]["finish_reason"] == "stop"


def test_run_script_runs_its_command_once() -> None:
    marker = parse_marker("T080 scripted:run,command=repo-tool%20%3E%20out.txt")
    first, second = plan(marker, 0).chunks, plan(marker, 1).chunks

    (call,) = first[0]["choices"][0]["delta"]["tool_calls"]
    assert call["function"]["name"] == "bash"
    assert json.loads(call["function"]["arguments"])["command"] == "repo-tool > out.txt"
    assert second[1]["choices"][0]["finish_reason"] == "stop"


def test_streams_tool_calls_over_http(server: scripted_llm.ScriptedLLMServer) -> None:
    status, kind, raw = post(server.url, body("T003 scripted:write"))

    assert (status, kind) == (200, "text/event-stream")
    chunks = sse_chunks(raw)
    assert chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "write"
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] == 15
    logged = server.requests_for("write")[-1]
    assert (logged.turn, logged.system) == (0, "You are opencode")


def test_turn_comes_from_assistant_messages(server: scripted_llm.ScriptedLLMServer) -> None:
    _, _, raw = post(server.url, body("T003 scripted:write", assistants=2))

    assert sse_chunks(raw)[0]["choices"][0]["delta"]["content"] == "Wrote scripted/T003.txt."


def test_loop_never_ends(server: scripted_llm.ScriptedLLMServer) -> None:
    _, _, raw = post(server.url, body("scripted:loop", assistants=57))

    call = sse_chunks(raw)[0]["choices"][0]["delta"]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"])["command"] == "echo loop 57"


@pytest.mark.parametrize(
    ("script", "status", "kind"),
    [
        ("error500", 500, "application/json"),
        ("error400", 400, "application/json"),
        ("garbage", 200, "text/plain"),
    ],
)
def test_failure_scripts(
    server: scripted_llm.ScriptedLLMServer, script: str, status: int, kind: str
) -> None:
    assert post(server.url, body(f"scripted:{script}"))[:2] == (status, kind)


def test_noop_and_no_marker_answer_text(server: scripted_llm.ScriptedLLMServer) -> None:
    for prompt in ("scripted:noop", "nothing scripted"):
        chunks = sse_chunks(post(server.url, body(prompt))[2])
        assert chunks[1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("prompt", "assistants"), [("scripted:silence", 0), ("T1 scripted:write-then-stall", 1)]
)
def test_silent_scripts_never_answer(
    server: scripted_llm.ScriptedLLMServer, prompt: str, assistants: int
) -> None:
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        post(server.url, body(prompt, assistants), timeout=0.5)


def test_opencode_config_points_at_the_server() -> None:
    config = scripted_llm.opencode_config("http://h:1/v1")

    assert config["model"] == "scripted/scripted"
    assert config["provider"]["scripted"]["options"]["baseURL"] == "http://h:1/v1"


@pytest.mark.timeout(30)
def test_held_answers_only_once_the_test_releases_the_task(
    server: scripted_llm.ScriptedLLMServer,
) -> None:
    import threading
    import time

    answers: list[tuple[int, str, bytes]] = []
    ask = threading.Thread(
        target=lambda: answers.append(post(server.url, body("T042 scripted:held"), timeout=20))
    )
    ask.start()
    deadline = time.monotonic() + 10
    while server.held() != {"T042"}:
        assert time.monotonic() < deadline, "the request never reached the gate"
        time.sleep(0.01)
    assert not answers  # held at the gate, not answered
    later = post(server.url, body("T042 scripted:held", assistants=1))  # later turns never wait
    assert later[0] == 200
    server.release("T042")
    ask.join(10)
    ((status, _, raw),) = answers
    assert status == 200 and server.held() == set()
    call = sse_chunks(raw)[0]["choices"][0]["delta"]["tool_calls"][0]["function"]
    assert call["name"] == "write" and "scripted/T042.txt" in call["arguments"]
