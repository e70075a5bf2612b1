"""The cost of a task's LLM use: the tokens the pod's proxy counted, at the developer's price.

opencode computes a ``cost`` of its own for each step, but it does so in the ``agent``
container from a model price in opencode's config, which the agent can rewrite: it is
the agent's claim, and never read.  The trusted cost is the input and output tokens the
``llm-proxy`` container counted (``usage.json``) times the price the developer gives
(``SPECKIT_PODS_LLM_PRICE`` / ``--llm-price``, the ``llm-proxy``'s
``LLM_PRICE_PER_MTOK``): ``IN/OUT``, US dollars per million input and output tokens,
e.g. ``3/15`` or ``0.15/0.6``.  The cost budget (``--max-cost``, ``LLM_COST_BUDGET``)
is a US dollar amount.

Both sides parse these strings with the same functions: the developer's, to refuse a
bad value before anything is created; the proxy's, to fail closed on one that reaches
it anyway.  Amounts are :class:`~decimal.Decimal` (exact: ``0.1 + 0.2`` is ``0.3``);
costs are floats once computed (``usage.json`` and the result line are JSON).
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal
from typing import Final

PRICE_EXAMPLES: Final = "e.g. 3/15 or 0.15/0.6"
PRICE_FORMAT: Final = (
    "IN/OUT, US dollars per million input / output tokens (" + PRICE_EXAMPLES + ")"
)
PER: Final = 1_000_000  # tokens the price is for
# ASCII digits only (str.isdigit takes other scripts' digits too), a bounded size
_AMOUNT = re.compile(r"(?:[0-9]{1,9}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})")


def parse_amount(text: str) -> Decimal:
    """A non-negative US dollar amount (``0.5``, ``12``, ``.25``); ``ValueError`` if not."""
    value = text.strip()
    if not _AMOUNT.fullmatch(value):
        raise ValueError(f"{text!r} is not an amount of US dollars such as 0.50 or 12")
    return Decimal(value)


def parse_budget(text: str) -> Decimal:
    """A cost budget: an amount above zero; ``ValueError`` with the reason if not."""
    amount = parse_amount(text)
    if amount <= 0:
        raise ValueError(f"{text!r} is not above zero")
    return amount


@dataclasses.dataclass(frozen=True)
class Price:
    """US dollars per million input and per million output tokens."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal

    @classmethod
    def parse(cls, text: str) -> Price:
        """``IN/OUT`` (``3/15``, ``0.15/0.6``); ``ValueError`` saying what is expected."""
        parts = text.strip().split("/")
        try:
            if len(parts) != 2:
                raise ValueError(text)
            return cls(parse_amount(parts[0]), parse_amount(parts[1]))
        except ValueError:
            raise ValueError(f"expected {PRICE_FORMAT}, got {text!r}") from None

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The cost in US dollars of these tokens (computed exactly, then a float)."""
        exact = input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok
        return float(exact / PER)

    def __str__(self) -> str:
        """``IN/OUT`` as :meth:`parse` reads it: ``3/15``, ``0.15/0.6``."""
        return f"{plain(self.input_per_mtok)}/{plain(self.output_per_mtok)}"


def plain(amount: Decimal) -> str:
    """``amount`` without an exponent or trailing zeros: ``0.5``, ``15``, ``0.000001``."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def usd(amount: float) -> str:
    """A cost spent, to four decimals: ``$0.0123``, ``$12.5000``."""
    return f"${amount:.4f}"


def usd_budget(amount: float | Decimal) -> str:
    """A budget as given, with at least two decimals: ``$0.50``, ``$5.00``, ``$0.005``."""
    whole, _, cents = plain(Decimal(str(amount))).partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"
