"""The LLM proxy's accounting: the usage it counts, its cost, ``usage.json``, the budgets.

The proxy (:mod:`runtime.agent.llm_proxy`, container ``llm-proxy``) reads the usage
the upstream reports as each answer passes (:class:`UsageMeter`), adds it up
(:class:`UsageTotals`) and writes the totals to ``usage.json`` in
:data:`~runtime.contract.pod.LLM_USAGE_DIR` (:func:`write_usage`); the ``git`` side
reads them back (:func:`read_usage`) for the result line and the budgets.  The agent
cannot reach that file: these counts are the trusted ones.  The cost is these tokens at
the developer's price (:mod:`runtime.contract.cost`), never opencode's own figure.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from runtime.agent.handoff import clean_text, write_atomic
from runtime.contract.cost import PRICE_FORMAT, Price, parse_budget, usd, usd_budget
from runtime.contract.pod import LLM_USAGE_FILE, Env

MAX_JSON_USAGE_BYTES = 8 * 1024 * 1024  # a JSON response beyond this is not counted
MAX_SSE_LINE_BYTES = 8 * 1024 * 1024  # an SSE line beyond this is skipped
_WHOLE_NUMBER = re.compile(r"[0-9]{1,15}")


TOKENS: Final = "tokens"  # OverBudget.kind: --max-tokens (LLM_TOKEN_BUDGET)
COST: Final = "cost"  # OverBudget.kind: --max-cost (LLM_COST_BUDGET)
BudgetKind = Literal["tokens", "cost"]


@dataclasses.dataclass(frozen=True)
class OverBudget:
    """A budget reached: ``usage.json``'s ``over_budget``.

    ``used`` and ``budget`` are tokens (input + output) for :data:`TOKENS`, US dollars
    for :data:`COST` (``used`` ``None``: no valid price, so the cost is unknown and the
    cost budget counts as spent: it fails closed).
    """

    used: float | None  # tokens: an int
    budget: float  # tokens: an int
    kind: BudgetKind = "tokens"

    @property
    def reason(self) -> str:
        """The result's reason, with the figures.

        ``1234 tokens used, budget 1000 (--max-tokens)``, or ``$0.5213 spent, budget
        $0.50 (--max-cost)``.
        """
        if self.kind == COST:
            spent = (
                "cost unknown (no valid price)" if self.used is None else f"{usd(self.used)} spent"
            )
            return f"{spent}, budget {usd_budget(self.budget)} (--max-cost)"
        return f"{self.used} tokens used, budget {self.budget} (--max-tokens)"


@dataclasses.dataclass(frozen=True)
class Usage:
    """Totals since the proxy started: what ``usage.json`` holds."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: int = 0
    refused: int = 0  # requests refused because a budget was spent (not forwarded)
    budget: int | None = None  # LLM_TOKEN_BUDGET; None: no limit
    cost_usd: float | None = None  # the tokens counted, at LLM_PRICE_PER_MTOK; None: no price
    cost_budget: float | None = None  # LLM_COST_BUDGET, US dollars; None: no limit
    # the budget reached first ("tokens" or "cost"; "" before): over_budget names it, even
    # once a request in flight then reaches the other too
    reached: str = ""

    def _reached(self) -> dict[str, OverBudget]:
        found: dict[str, OverBudget] = {}
        used = self.input_tokens + self.output_tokens
        if self.budget is not None and used >= self.budget:
            found[TOKENS] = OverBudget(used, self.budget, TOKENS)
        cost, limit = self.cost_usd, self.cost_budget
        if limit is not None and (cost is None or cost >= limit):  # no price: fails closed
            found[COST] = OverBudget(cost, limit, COST)
        return found

    @property
    def over_budget(self) -> OverBudget | None:
        """The budget reached first and what was used, once one is; ``None`` before (or none).

        Reached means used >= budget; two reached at once: the token budget.
        """
        found = self._reached()
        return found.get(self.reached) or found.get(TOKENS) or found.get(COST)

    def to_json(self) -> dict[str, object]:
        """The ``usage.json`` object (``over_budget``: ``{"used", "budget", "kind"}``, or null)."""
        over = self.over_budget
        data = dataclasses.asdict(self)
        del data["reached"]  # over_budget's kind
        return {**data, "over_budget": dataclasses.asdict(over) if over else None}


class UsageTotals:
    """A thread-safe accumulator of :class:`Usage`; the cost is the totals at ``price``."""

    def __init__(
        self,
        budget: int | None = None,
        price: Price | None = None,
        cost_budget: float | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self.price = price
        usage = Usage(budget=budget, cost_usd=self._cost(0, 0), cost_budget=cost_budget)
        over = usage.over_budget  # a budget that fails closed is spent from the start
        self._usage = dataclasses.replace(usage, reached=over.kind if over else "")

    def _cost(self, input_tokens: int, output_tokens: int) -> float | None:
        return None if self.price is None else self.price.cost(input_tokens, output_tokens)

    def add(self, input_tokens: int, output_tokens: int, *, error: bool) -> tuple[Usage, bool]:
        """Count one forwarded request; the new totals, and whether it reached a budget."""
        with self._lock:
            old = self._usage
            inputs, outputs = old.input_tokens + input_tokens, old.output_tokens + output_tokens
            new = dataclasses.replace(
                old,
                requests=old.requests + 1,
                input_tokens=inputs,
                output_tokens=outputs,
                errors=old.errors + int(error),
                cost_usd=self._cost(inputs, outputs),
            )
            over = new.over_budget
            crossed = old.over_budget is None and over is not None
            if crossed and over is not None:
                new = dataclasses.replace(new, reached=over.kind)  # the first one stays it
            self._usage = new
            return new, crossed

    def refuse(self) -> OverBudget | None:
        """Count a request refused for a budget, if one is spent: how it is spent."""
        with self._lock:
            over = self._usage.over_budget
            if over is not None:
                self._usage = dataclasses.replace(self._usage, refused=self._usage.refused + 1)
            return over

    def snapshot(self) -> Usage:
        """The totals now."""
        with self._lock:
            return self._usage


def _count(value: object) -> int | None:
    """A token count, or ``None`` for anything but a non-negative int."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def tokens_of(usage: object) -> tuple[int, int] | None:
    """``(input, output)`` of a ``usage`` object in OpenAI or Anthropic naming, or ``None``.

    Anthropic's ``input_tokens`` leaves out the prompt cache: its
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` are added.
    """
    fields = _object(usage)
    prompt, completion = (
        _count(fields.get("prompt_tokens")),
        _count(fields.get("completion_tokens")),
    )
    if prompt is not None or completion is not None:
        return prompt or 0, completion or 0
    inputs, outputs = _count(fields.get("input_tokens")), _count(fields.get("output_tokens"))
    if inputs is None and outputs is None:
        return None
    cached = sum(
        _count(fields.get(name)) or 0
        for name in ("cache_read_input_tokens", "cache_creation_input_tokens")
    )
    return (inputs or 0) + cached, outputs or 0


class UsageMeter:
    """Reads the token counts of one response from its bytes as they pass; never raises.

    ``text/event-stream``: the ``data:`` lines (split across chunks or not) of OpenAI
    chat chunks (``usage`` in the last), Responses API ``response.completed`` events
    and Anthropic ``message_start`` / ``message_delta`` events (cumulative output: the
    last one counts).  ``application/json``: the whole body's ``usage``.
    """

    def __init__(self, content_type: str) -> None:
        mime = content_type.split(";", 1)[0].strip().lower()
        self.mode = "none"
        if mime == "text/event-stream":
            self.mode = "sse"
        elif mime == "application/json" or mime.endswith("+json"):
            self.mode = "json"
        self.input_tokens = 0
        self.output_tokens = 0
        self._buffer = bytearray()
        self._skipping = False  # inside an SSE line over the cap

    def feed(self, data: bytes) -> None:
        """Look at the next piece of the body."""
        try:
            if self.mode == "sse":
                self._feed_sse(data)
            elif self.mode == "json":
                self._buffer += data
                if len(self._buffer) > MAX_JSON_USAGE_BYTES:
                    self._stop()
        except Exception:  # a parsing slip must never break the response it reads
            self._stop()

    def finish(self) -> tuple[int, int]:
        """``(input, output)`` tokens of the whole response."""
        try:
            if self.mode == "sse" and not self._skipping:
                self._line(bytes(self._buffer))
            elif self.mode == "json":
                self._set(_object(json.loads(bytes(self._buffer))).get("usage"))
        except Exception:  # malformed JSON: nothing to count
            pass
        self._stop()
        return self.input_tokens, self.output_tokens

    def _stop(self) -> None:
        self.mode = "none"
        self._buffer = bytearray()

    def _feed_sse(self, data: bytes) -> None:
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._skipping:
                self._buffer += piece
                if len(self._buffer) > MAX_SSE_LINE_BYTES:
                    self._buffer = bytearray()
                    self._skipping = True
            if end < 0:
                return
            if not self._skipping:
                self._line(bytes(self._buffer))
            self._buffer = bytearray()
            self._skipping = False
            start = end + 1

    def _line(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if not line.startswith(b"data:") or b"usage" not in line:
            return  # most lines are content deltas: only events with a usage are parsed
        try:
            event = json.loads(line[5:])
        except ValueError:
            return
        if isinstance(event, dict):
            self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":  # Anthropic: input (and the first output) tokens
            self._set(_object(event.get("message")).get("usage"))
        elif kind == "message_delta":  # Anthropic: the output so far
            output = _count(_object(event.get("usage")).get("output_tokens"))
            if output is not None:
                self.output_tokens = output
        elif kind in ("response.completed", "response.incomplete"):  # OpenAI Responses API
            self._set(_object(event.get("response")).get("usage"))
        else:  # OpenAI chat/completions: the last chunk (stream_options.include_usage)
            self._set(event.get("usage"))

    def _set(self, usage: object) -> None:
        counts = tokens_of(usage)
        if counts is not None:
            self.input_tokens, self.output_tokens = counts


def write_usage(directory: Path, usage: Usage) -> None:
    """Replace ``directory/usage.json`` atomically: a new file (0644), fsynced, renamed."""
    data = json.dumps(usage.to_json()).encode("utf-8") + b"\n"
    write_atomic(directory, LLM_USAGE_FILE, data)


_TOTALS: Final = ("requests", "input_tokens", "output_tokens", "errors")


def _dollars(value: object) -> float | None:
    """An amount of US dollars: a finite number >= 0, or ``None`` for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and value >= 0:
            return float(value)
    return None


def read_usage(directory: Path) -> Usage | None:
    """The totals in ``directory/usage.json``; ``None`` when absent or malformed.

    ``over_budget`` follows from the totals and the budgets (:attr:`Usage.over_budget`);
    of the file's own, only the kind is read (which budget was reached first).
    """
    try:
        raw = json.loads((directory / LLM_USAGE_FILE).read_bytes()[: 64 * 1024])
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    totals = [_count(raw.get(name)) for name in _TOTALS]
    refused, budget = _count(raw.get("refused", 0)), raw.get("budget")
    if any(value is None for value in totals) or refused is None:
        return None
    if budget is not None and _count(budget) is None:
        return None
    cost, cost_budget = raw.get("cost_usd"), raw.get("cost_budget")
    if any(value is not None and _dollars(value) is None for value in (cost, cost_budget)):
        return None
    kind = _object(raw.get("over_budget")).get("kind")
    requests, inputs, outputs, errors = (value or 0 for value in totals)
    return Usage(
        requests,
        inputs,
        outputs,
        errors,
        refused,
        budget,
        _dollars(cost),
        _dollars(cost_budget),
        kind if kind in (TOKENS, COST) else "",
    )


def token_budget(env: Mapping[str, str]) -> tuple[int | None, str]:
    """``LLM_TOKEN_BUDGET``: the budget (``None``: no limit), and a problem with the value.

    A malformed value is a budget of 0 (every request refused): the limit fails closed.
    """
    raw = env.get(Env.LLM_TOKEN_BUDGET, "").strip()
    if not raw:
        return None, ""
    if _WHOLE_NUMBER.fullmatch(raw) and int(raw) > 0:
        return int(raw), ""
    shown = clean_text(raw, 40)
    return 0, f"{Env.LLM_TOKEN_BUDGET}={shown!r} is not a positive whole number: refusing all"


def cost_settings(env: Mapping[str, str]) -> tuple[Price | None, float | None, list[str]]:
    """``LLM_PRICE_PER_MTOK`` and ``LLM_COST_BUDGET``: the price, the cost budget, problems.

    No price (unset or malformed): the cost is unknown (``null``).  A malformed cost
    budget is a budget of 0; a cost budget without a valid price counts as spent: both
    fail closed (every request refused), like the token budget.
    """
    raw_price = env.get(Env.LLM_PRICE_PER_MTOK, "").strip()
    raw_budget = env.get(Env.LLM_COST_BUDGET, "").strip()
    problems: list[str] = []
    price: Price | None = None
    if raw_price:
        try:
            price = Price.parse(raw_price)
        except ValueError:
            shown = clean_text(raw_price, 40)
            problems.append(
                f"{Env.LLM_PRICE_PER_MTOK}={shown!r} is not a price ({PRICE_FORMAT}): "
                "the cost is unknown"
            )
    limit: float | None = None
    if raw_budget:
        try:
            limit = float(parse_budget(raw_budget))
        except ValueError:
            shown = clean_text(raw_budget, 40)
            problems.append(
                f"{Env.LLM_COST_BUDGET}={shown!r} is not an amount of US dollars above zero: "
                "refusing all"
            )
            limit = 0.0
        if price is None and limit:
            problems.append(
                f"{Env.LLM_COST_BUDGET} is set without a valid {Env.LLM_PRICE_PER_MTOK}: "
                "the cost is unknown, so the cost budget refuses all"
            )
    return price, limit, problems
