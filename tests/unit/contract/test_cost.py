"""The developer's price and budgets: parsed alike on both sides, costs computed exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from runtime.contract.cost import Price, parse_amount, parse_budget, plain, usd, usd_budget


@pytest.mark.parametrize(
    ("text", "price"),
    [
        ("3/15", Price(Decimal(3), Decimal(15))),
        ("0.15/0.6", Price(Decimal("0.15"), Decimal("0.6"))),
        (" 1000/1000 ", Price(Decimal(1000), Decimal(1000))),
        ("3 / 15", Price(Decimal(3), Decimal(15))),
        (".5/2.", Price(Decimal("0.5"), Decimal(2))),
        ("0/0", Price(Decimal(0), Decimal(0))),  # a model you do not pay per token
    ],
)
def test_a_price_is_in_slash_out_dollars_per_million_tokens(text: str, price: Price) -> None:
    assert Price.parse(text) == price
    assert Price.parse(str(price)) == price


@pytest.mark.parametrize(
    "text",
    ["", "3", "3/", "/15", "3/15/1", "3//15", "-3/15", "3/-15", "3e2/15", "$3/$15", "3,5/15",
     "\u0663/15", "nan/15", "inf/15", "3/15.0.1", "1234567890/1"],
)  # fmt: skip
def test_a_bad_price_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected IN/OUT, US dollars per million input"):
        Price.parse(text)


def test_the_cost_is_exact_before_it_is_a_float() -> None:
    price = Price.parse("3/15")
    assert price.cost(0, 0) == 0.0
    assert price.cost(1_000_000, 1_000_000) == 18.0
    assert price.cost(1234, 567) == 0.012207  # 0.003702 + 0.008505
    assert Price.parse("0.1/0.2").cost(3_000_000, 3_000_000) == 0.9  # not 0.9000000000000001
    assert str(price) == "3/15" and str(Price.parse("0.150/0.60")) == "0.15/0.6"


@pytest.mark.parametrize(("text", "amount"), [("0.50", "0.50"), ("5", "5"), (" .01 ", "0.01")])
def test_a_budget_is_an_amount_above_zero(text: str, amount: str) -> None:
    assert parse_budget(text) == Decimal(amount)


@pytest.mark.parametrize("text", ["0", "0.00", "-1", "1e3", "$1", "one", "", "1.2.3"])
def test_a_bad_budget_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_budget(text)
    if text in ("0", "0.00"):
        assert parse_amount(text) == 0  # an amount, but no budget


def test_dollars_are_shown_spent_to_four_decimals_and_budgets_as_given() -> None:
    assert (usd(0.0123), usd(0.52134), usd(12.5), usd(0.0)) == (
        "$0.0123", "$0.5213", "$12.5000", "$0.0000",
    )  # fmt: skip
    assert (usd_budget(0.5), usd_budget(5), usd_budget(0.005), usd_budget(Decimal("1.10"))) == (
        "$0.50", "$5.00", "$0.005", "$1.10",
    )  # fmt: skip
    assert (plain(Decimal("0.50")), plain(Decimal("1E+1")), plain(Decimal("0.000001"))) == (
        "0.5", "10", "0.000001",
    )  # fmt: skip
