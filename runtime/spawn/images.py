"""Container image references (``--image``, ``--toolchain-image``), checked before a pod exists.

The grammar is the one the container runtimes parse (distribution's ``reference``):
``[HOST[:PORT]/]PATH[:TAG][@ALGORITHM:HEX]``, the path lower-case.  A reference the
cluster would refuse is an invalid-input error here, with a hint, instead of a pod stuck
in ``InvalidImageName``.
"""

from __future__ import annotations

import re

from runtime.errors import InvalidInputError

MAX_NAME_LENGTH = 255
_ALNUM = r"[a-z0-9]+"
_COMPONENT = rf"{_ALNUM}(?:(?:[_.]|__|-+){_ALNUM})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_NAME = rf"(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII)
FORMAT = "[HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], the path lower-case"


def image_error(reference: str) -> str | None:
    """Why ``reference`` is no image reference, or ``None`` when it is one."""
    if not reference:
        return "it is empty"
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        return f"expected {FORMAT}"
    if len(match.group("name")) > MAX_NAME_LENGTH:
        return f"its name is longer than {MAX_NAME_LENGTH} characters"
    return None


def check_image(reference: str, flag: str, env_var: str) -> str:
    """``reference`` when it is an image reference.

    Raises:
        InvalidInputError: it is not one (exit 26), naming the flag and the variable.
    """
    why = image_error(reference)
    if why is not None:
        raise InvalidInputError(
            f"invalid {flag} {reference!r}: {why}",
            hint=f"give the image as your cluster pulls it (the flag, or {env_var}), "
            "e.g. registry.example.com/team/speckit-pods-agent:0.1.0",
        )
    return reference
