from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.spawn import names

UTC = datetime.UTC


def test_pod_name_shape_and_stability() -> None:
    name = names.pod_name("001-photo-albums", "T012")
    assert name.startswith("sp-001-photo-albums-t012-")
    assert len(name.rsplit("-", 1)[1]) == 6
    assert names.pod_name("001-photo-albums", "T012") == name


def test_pod_name_differs_per_task_and_feature() -> None:
    base = names.pod_name("001-photo-albums", "T012")
    assert names.pod_name("001-photo-albums", "T013") != base
    assert names.pod_name("002-photo-albums", "T012") != base


def test_long_feature_is_truncated_but_distinct() -> None:
    one = names.pod_name("001-" + "a" * 100 + "-one", "T012")
    two = names.pod_name("001-" + "a" * 100 + "-two", "T012")
    assert len(one) <= 63 and len(two) <= 63
    assert one != two
    assert names.is_dns_label(one)


def test_sanitising_collisions_are_kept_apart_by_the_hash() -> None:
    assert names.pod_name("Photo_Albums", "T1") != names.pod_name("photo-albums", "T1")


def test_empty_inputs_still_give_a_valid_name() -> None:
    assert names.is_dns_label(names.pod_name("", ""))
    assert names.is_dns_label(names.pod_name("___", "!!!"))


@given(st.text(max_size=200), st.text(max_size=50))
def test_pod_name_is_always_a_dns_label(feature: str, task: str) -> None:
    name = names.pod_name(feature, task)
    assert names.is_dns_label(name), name
    cm = names.configmap_name(
        name, names.run_id()
    )  # a DNS subdomain: <= 253, labels joined by dots
    assert len(cm) <= 253 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", cm)


@given(st.text(max_size=300))
def test_label_value_is_always_valid(text: str) -> None:
    assert names.is_label_value(names.label_value(text))


@given(st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?", fullmatch=True))
def test_valid_label_values_pass_unchanged(value: str) -> None:
    assert names.label_value(value) == value


def test_long_label_values_keep_a_hash_of_the_original() -> None:
    a = names.label_value("x" * 80 + "a")
    b = names.label_value("x" * 80 + "b")
    assert a != b and len(a) <= 63 and names.is_label_value(a)


def test_label_value_examples() -> None:
    assert names.label_value("T012") == "T012"
    assert names.label_value("001 photo/albums") == "001-photo-albums"
    assert names.label_value("--x--") == "x"
    assert names.label_value("") == ""


def test_invalid_names_are_rejected_by_the_checks() -> None:
    assert not names.is_dns_label("Upper")
    assert not names.is_dns_label("-lead")
    assert not names.is_dns_label("a" * 64)
    assert not names.is_label_value("trail-")
    assert not names.is_label_value("a" * 64)


# independent of runtime.spawn.names: whole-string checks, so no "$ before a final newline"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


@given(st.text(max_size=80))
def test_the_checks_agree_with_the_kubernetes_syntax(text: str) -> None:
    assert names.is_dns_label(text) == (DNS_LABEL.fullmatch(text) is not None)
    assert names.is_label_value(text) == (LABEL_VALUE.fullmatch(text) is not None)


@pytest.mark.parametrize("text", ["abc\n", "T012\n", "a\r\n"])
def test_a_trailing_newline_is_invalid(text: str) -> None:
    assert not names.is_dns_label(text)
    assert not names.is_label_value(text)


@given(st.text(max_size=200), st.text(max_size=50))
def test_names_and_label_values_match_the_kubernetes_syntax(feature: str, task: str) -> None:
    assert DNS_LABEL.fullmatch(names.pod_name(feature, task))
    assert LABEL_VALUE.fullmatch(names.label_value(feature))
    assert LABEL_VALUE.fullmatch(names.label_value(task))


def test_run_id_is_a_label_value_sorted_by_time_and_unique() -> None:
    early = names.run_id(datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = names.run_id(datetime.datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    assert early.startswith("20260102t030405-")
    assert early < late
    assert names.is_label_value(early)
    assert len({names.run_id() for _ in range(50)}) == 50


def test_the_same_feature_in_two_repositories_gets_two_pod_names() -> None:
    one = names.pod_name("001-x", "T001", "https://git.example.com/acme/one.git")
    two = names.pod_name("001-x", "T001", "https://git.example.com/acme/two.git")
    assert one != two and names.is_dns_label(one) and names.is_dns_label(two)


@pytest.mark.parametrize(
    "url",
    [
        "https://Git.Example.com/acme/one",
        "https://git.example.com/acme/one/",
        "HTTPS://git.example.com/acme/one.git",
    ],
)
def test_repo_id_is_the_same_for_spellings_of_one_repository(url: str) -> None:
    assert names.repo_id(url) == names.repo_id("https://git.example.com/acme/one.git")
    assert names.is_label_value(names.repo_id(url))
    assert names.repo_id(url) != names.repo_id("https://git.example.com/acme/One.git")
