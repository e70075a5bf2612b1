from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.errors import ContextTooLargeError
from runtime.spawn import context


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def feature(tmp_path: Path) -> Path:
    root = tmp_path / "specs" / "001-photo-albums"
    write(root / "tasks.md", "- [ ] T001 x\n")
    write(root / "spec.md", "# Spec\n")
    write(root / "research.md", "# Research\n")
    write(root / "contracts" / "api.yaml", "openapi: 3.0.3\n")
    write(root / "contracts" / "events" / "album-created.json", "{}\n")
    write(root / "notes.txt", "not a context file\n")
    write(root / "checklists" / "requirements.md", "not a context file\n")
    return root


def test_collects_documents_in_fixed_order_then_contracts_recursively(feature: Path) -> None:
    files = context.collect(feature)
    assert [f.rel_path for f in files] == [
        "spec.md",
        "tasks.md",
        "research.md",
        "contracts/api.yaml",
        "contracts/events/album-created.json",
    ]
    assert [f.key for f in files] == [f"ctx.{i}" for i in range(5)]
    assert files[0].content == b"# Spec\n"


def test_keys_are_valid_configmap_keys(feature: Path) -> None:
    import re

    for item in context.collect(feature):
        assert re.fullmatch(r"[-._a-zA-Z0-9]+", item.key)


def test_missing_documents_and_dirs_are_skipped(tmp_path: Path) -> None:
    write(tmp_path / "tasks.md", "x")
    assert [f.rel_path for f in context.collect(tmp_path)] == ["tasks.md"]


def test_hidden_files_are_skipped(feature: Path) -> None:
    write(feature / "contracts" / ".DS_Store", b"\x00\x01")
    write(feature / "contracts" / ".cache" / "x.json", "{}")
    assert not [f for f in context.collect(feature) if "/." in "/" + f.rel_path]


def test_symlinks_leaving_the_feature_dir_are_skipped(feature: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "outside" / "id_rsa", "PRIVATE")
    os.symlink(secret, feature / "contracts" / "leak.yaml")
    os.symlink(feature / "spec.md", feature / "contracts" / "spec-link.md")
    rel = [f.rel_path for f in context.collect(feature)]
    assert "contracts/leak.yaml" not in rel
    assert "contracts/spec-link.md" in rel


def test_binary_files_are_counted_base64_encoded(feature: Path) -> None:
    write(feature / "contracts" / "logo.png", b"\x89PNG\r\n\x1a\n\xff\xfe")
    logo = next(f for f in context.collect(feature) if f.rel_path.endswith(".png"))
    assert not logo.is_text
    assert logo.size == 16  # 10 bytes -> 16 base64 characters


def test_over_the_cap_names_the_biggest_files(feature: Path) -> None:
    write(feature / "contracts" / "huge.json", "x" * 5000)
    write(feature / "plan.md", "y" * 3000)
    with pytest.raises(ContextTooLargeError) as info:
        context.collect(feature, max_bytes=4000)
    message = info.value.message
    assert "contracts/huge.json" in message and "plan.md" in message
    assert message.index("contracts/huge.json") < message.index("plan.md")
    assert "1 MiB" in info.value.hint
    assert info.value.exit_code == 14


def test_exactly_at_the_cap_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "spec.md", "z" * 100)
    assert len(context.collect(tmp_path, max_bytes=100)) == 1


def test_default_cap_leaves_room_under_one_mebibyte() -> None:
    assert 512 * 1024 < context.DEFAULT_MAX_BYTES <= 1024 * 1024 - 64 * 1024
