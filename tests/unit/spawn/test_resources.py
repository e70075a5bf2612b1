from __future__ import annotations

import pytest

from runtime.errors import InvalidInputError
from runtime.spawn.resources import Resources, cpu_millis, memory_bytes, resources_with_limits


@pytest.mark.parametrize(
    ("quantity", "millis"), [("250m", 250), ("2", 2000), ("0.5", 500), (".5", 500), ("1e3", 1e6)]
)
def test_cpu_quantities_the_api_accepts(quantity: str, millis: float) -> None:
    assert cpu_millis(quantity) == millis


@pytest.mark.parametrize(
    ("quantity", "size"),
    [("768Mi", 768 * 2**20), ("2Gi", 2 * 2**30), ("1G", 10**9), ("1Pi", 2**50), ("1e3", 1000),
     (".5Gi", 2**29), ("1Ei", 2**60)],
)  # fmt: skip
def test_memory_quantities_the_api_accepts(quantity: str, size: float) -> None:
    assert memory_bytes(quantity) == size


@pytest.mark.parametrize("quantity", ["", "abc", "1ki", "2 Gi", "-1", "0", "1.2.3", "Gi"])
def test_invalid_quantities_are_one_error_with_a_hint(quantity: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid memory quantity") as err:
        memory_bytes(quantity)
    assert "e.g." in err.value.hint


def test_requests_never_exceed_the_limits() -> None:
    res = resources_with_limits(cpu="100m", memory="1e8")
    assert (res.cpu_request, res.cpu_limit) == ("100m", "100m")
    assert (res.memory_request, res.memory_limit) == ("1e8", "1e8")
    assert resources_with_limits() == Resources()
