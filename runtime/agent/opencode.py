"""Run ``opencode run`` under a no-output watchdog, a deadline and an external stop.

opencode can hang forever (a server that answers 200 with a non-SSE body, a hung
server), so it always runs under an external deadline and a watchdog.  It is
started in its own process group; stopping sends SIGTERM to the group, then
SIGKILL after a grace period, so the shells it spawned go too.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from runtime.agent.events import StreamState
from runtime.contract.pod import Env

# Every permission explicitly decided: an "ask" would be auto-rejected in `run`.
DEFAULT_PERMISSION = {
    "edit": "allow",
    "bash": "allow",
    "read": "allow",
    "webfetch": "allow",
    "external_directory": "allow",
    "doom_loop": "deny",
}
QUIET_ENV = {
    # the repository's opencode.json, .opencode/ and AGENTS.md are input, not configuration:
    # they could grant permissions, load plugins or point the provider elsewhere
    "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
}
# opencode's built-in providers that the pod's LLM proxy serves (route = provider id);
# measured with 1.18.33: openai posts {baseURL}/responses, anthropic {baseURL}/messages
PROXIED_PROVIDERS = ("openai", "anthropic")
PROXY_DUMMY_KEY = "speckit-pods-llm-proxy"  # not a secret: the proxy replaces it
PLUGIN_LOCK = '{"packages":{"":{"dependencies":{"@opencode-ai/plugin":"*"}}}}\n'
POLL_SECONDS = 0.25
TERM_GRACE_SECONDS = 5.0
EXIT_DRAIN_SECONDS = 2.0


class Stop(enum.Enum):
    """Why we stopped opencode ourselves."""

    STALLED = "stalled"
    TIMEOUT = "timeout"
    KILLED = "killed"
    ASKED = "asked"  # the git side asked (Limits.stop_file appeared): over the token budget


@dataclasses.dataclass(frozen=True)
class Limits:
    """Watchdog period, absolute deadline (``time.monotonic()``; None = none), stop file.

    ``stop_file``: a file whose appearance stops the run (the git side writes it).
    """

    stall_s: float
    deadline: float | None = None
    stop_file: Path | None = None


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    """How the opencode run ended."""

    stop: Stop | None
    exit_code: int | None
    ok: bool
    reason: str
    session_id: str = ""  # from the events; "" when opencode printed none


def command(binary: str, title: str, model: str = "") -> list[str]:
    """The ``opencode run`` argv (the prompt goes to stdin)."""
    argv = [binary, "run", "--format", "json", "--title", title]
    return [*argv, "-m", model] if model else argv


def environment(base: Mapping[str, str], home: Path) -> dict[str, str]:
    """The environment for opencode: XDG dirs under HOME, no downloads, explicit permissions."""
    env = dict(base)
    env["HOME"] = str(home)
    env.setdefault("XDG_CONFIG_HOME", str(home / ".config"))
    env.setdefault("XDG_DATA_HOME", str(home / ".local" / "share"))
    env.setdefault("XDG_CACHE_HOME", str(home / ".cache"))
    env.setdefault("XDG_STATE_HOME", str(home / ".local" / "state"))
    for key, value in QUIET_ENV.items():
        env.setdefault(key, value)
    env.setdefault("OPENCODE_PERMISSION", json.dumps(DEFAULT_PERMISSION))
    proxy = env.get(Env.LLM_PROXY_URL, "").strip()
    if proxy:
        env["OPENCODE_CONFIG_CONTENT"] = json.dumps(
            _merged(_loads(env.get("OPENCODE_CONFIG_CONTENT", "")), proxied_providers(proxy))
        )
    return env


def proxied_providers(proxy_url: str) -> dict[str, object]:
    """Config that sends opencode's built-in providers to the pod's LLM proxy.

    Merged last (``OPENCODE_CONFIG_CONTENT``), so no config file can point them at the
    provider directly; the key they carry is a dummy, the proxy adds the real one.  An
    operator's own OpenAI-compatible provider uses ``{env:SPECKIT_LLM_PROXY_URL}/llm``.
    """
    base = proxy_url.rstrip("/")
    return {
        "provider": {
            name: {"options": {"baseURL": f"{base}/{name}", "apiKey": PROXY_DUMMY_KEY}}
            for name in PROXIED_PROVIDERS
        }
    }


def _loads(text: str) -> dict[str, object]:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _merged(base: dict[str, object], extra: dict[str, object]) -> dict[str, object]:
    """``extra`` over ``base``, dictionaries merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merged(old, value)
        else:
            out[key] = value
    return out


def seed_config_dirs(dirs: list[Path]) -> None:
    """Stop opencode's background ``npm install @opencode-ai/plugin`` in these dirs."""
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "node_modules").mkdir(exist_ok=True)
        lock = directory / "package-lock.json"
        if not lock.exists():
            lock.write_text(PLUGIN_LOCK, encoding="utf-8")


def _pump(stream: IO[str], tag: str, lines: queue.Queue[tuple[str, str | None]]) -> None:
    with stream:
        for line in stream:
            lines.put((tag, line.rstrip("\n")))
    lines.put((tag, None))


def run(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    prompt: Path,
    limits: Limits,
    stop_requested: threading.Event,
    emit: Callable[[str], None],
) -> RunOutcome:
    """Run opencode to completion or until a limit or ``stop_requested`` stops it."""
    state = StreamState()
    lines: queue.Queue[tuple[str, str | None]] = queue.Queue()
    with prompt.open("rb") as stdin:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, "out", lines), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, "err", lines), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    stop = _watch(proc, lines, state, limits, stop_requested, emit, str(cwd))
    if stop is not None:
        terminate_group(proc)
    else:
        proc.wait()
        _kill_leftovers(proc.pid)
    for pump in pumps:
        pump.join(timeout=TERM_GRACE_SECONDS)
    _drain(lines, state, emit, str(cwd))
    code = proc.wait()
    if stop is not None:
        return RunOutcome(stop, code, False, "", state.session_id)
    ok, reason = state.verdict(code)
    return RunOutcome(None, code, ok, reason, state.session_id)


def _watch(
    proc: subprocess.Popen[str],
    lines: queue.Queue[tuple[str, str | None]],
    state: StreamState,
    limits: Limits,
    stop_requested: threading.Event,
    emit: Callable[[str], None],
    root: str,
) -> Stop | None:
    last_output = time.monotonic()
    open_streams, exited_at = 2, 0.0
    while open_streams or proc.poll() is None:
        if stop_requested.is_set():
            return Stop.KILLED
        now = time.monotonic()
        if proc.poll() is not None:
            exited_at = exited_at or now
            if now - exited_at > EXIT_DRAIN_SECONDS:
                break  # a leftover child holds the pipes open; it is killed below
        if limits.deadline is not None and now >= limits.deadline:
            return Stop.TIMEOUT
        if now - last_output >= limits.stall_s:
            return Stop.STALLED
        if limits.stop_file is not None and limits.stop_file.exists():
            return Stop.ASKED
        try:
            tag, line = lines.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if line is None:
            open_streams -= 1
            continue
        shown = state.on_stdout(line, root) if tag == "out" else state.on_stderr(line)
        if shown.progress:
            last_output = time.monotonic()
        if shown.text is not None:
            emit(shown.text)
    return None


def _drain(
    lines: queue.Queue[tuple[str, str | None]],
    state: StreamState,
    emit: Callable[[str], None],
    root: str,
) -> None:
    while True:
        try:
            tag, line = lines.get_nowait()
        except queue.Empty:
            return
        shown = (
            None
            if line is None
            else (state.on_stdout(line, root) if tag == "out" else state.on_stderr(line))
        )
        if shown is not None and shown.text is not None:
            emit(shown.text)


def terminate_group(proc: subprocess.Popen[Any], grace: float = TERM_GRACE_SECONDS) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            _kill_leftovers(proc.pid)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_leftovers(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
