"""Image references are checked before a pod exists: what the container runtime would refuse."""

from __future__ import annotations

import pytest

from runtime.contract.exit_codes import ExitCode
from runtime.errors import InvalidInputError
from runtime.spawn.images import check_image, image_error


@pytest.mark.parametrize(
    "reference",
    [
        "agent:1",
        "ghcr.io/speckit-pods/agent:0.1.0",
        "registry.example:5000/team/speckit-pods-agent:0.1.0",
        "localhost:5000/a/b/c",
        "172.18.0.2:5000/speckit-pods/agent:e2e",
        "[::1]:5000/agent:1",
        "docker.io/library/my_app__x-y.z:v1.2_rc-3",
        "registry.example/app-tools@sha256:" + "a" * 64,
        "registry.example/app-tools:3@sha256:" + "0f" * 32,
    ],
)
def test_references_the_runtimes_take_are_taken(reference: str) -> None:
    assert image_error(reference) is None
    assert check_image(reference, "--toolchain-image", "SPECKIT_PODS_TOOLCHAIN_IMAGE") == reference


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "Registry.example/App:1",  # the path must be lower-case
        "agent:",
        "agent:-1",
        "agent:" + "x" * 129,
        "a b:1",
        "agent:1\n",
        "bad\x01image",
        "--privileged",
        "https://registry.example/agent:1",
        "registry.example//agent",
        "agent@sha256:abc",  # too short for a digest
        "agent:1 && curl evil",
        "a/" * 130 + "b",  # a name over 255 characters
    ],
)
def test_anything_else_is_invalid_input_naming_the_flag(reference: str) -> None:
    assert image_error(reference) is not None
    with pytest.raises(InvalidInputError) as err:
        check_image(reference, "--toolchain-image", "SPECKIT_PODS_TOOLCHAIN_IMAGE")
    assert err.value.exit_code == ExitCode.INVALID_INPUT
    assert err.value.message.startswith(f"invalid --toolchain-image {reference!r}: ")
    assert "SPECKIT_PODS_TOOLCHAIN_IMAGE" in (err.value.hint or "")
