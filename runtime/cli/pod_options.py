"""The options of an agent pod, shared by ``spawn`` and ``dispatch``: one builder.

:func:`add_pod_options` adds them to a parser; :func:`spawn_options` checks them
and turns them into :class:`runtime.spawn.create.SpawnOptions`, so both commands
accept, refuse and exit the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.common.durations import EXAMPLES, parse_duration
from runtime.contract.cost import PRICE_FORMAT, Price, parse_budget
from runtime.contract.pod import DEFAULT_CHECKPOINT_SECONDS
from runtime.errors import InvalidInputError
from runtime.kube.client import DEFAULT_NAMESPACE
from runtime.spawn import images, manifests

if TYPE_CHECKING:
    from collections.abc import Callable

    from runtime.spawn.create import SpawnOptions


def duration(text: str) -> int:
    """``argparse`` type for durations (``90m``, ``2h``, ``1d``, ``3600``): seconds."""
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _tokens(text: str) -> int:
    value = text.strip()
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise ValueError(f"expected a positive whole number of tokens, got {text!r}")
    return int(value)


def _seconds(text: str) -> int:
    value = text.strip()
    if not value.isascii() or not value.isdigit():
        raise ValueError(f"expected a whole number of seconds (0 = no checkpoints), got {text!r}")
    return int(value)


def _dollars(text: str) -> Decimal:
    try:
        return parse_budget(text)
    except ValueError as err:
        raise ValueError(
            f"expected an amount of US dollars above zero such as 0.50 or 5: {err}"
        ) from None


@dataclasses.dataclass(frozen=True)
class EnvOption:
    """A pod option whose default is an environment variable, checked like the flag.

    The extension pins each of them in pods-config.yml and drops its variable
    (tests/unit/extension/test_pinned_config.py holds it to that).
    """

    flag: str
    env: str
    metavar: str
    parse: Callable[[str], object]  # raises ValueError saying what it expected
    help: str  # --help adds " (default: $ENV, else FALLBACK)"
    fallback: str  # what applies when neither the flag nor the variable is given

    def type(self, text: str) -> object:
        """``argparse`` type: the parsed value; an error naming both sources if it fails."""
        try:
            return self.parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"{err} (from {self.flag} or {self.env})") from None


# argparse parses a string default too: a bad variable is refused like a bad flag (exit 2)
ENV_OPTIONS: tuple[EnvOption, ...] = (
    EnvOption(
        flag="--checkpoint-interval",
        env="SPECKIT_PODS_CHECKPOINT_INTERVAL",
        metavar="SECONDS",
        parse=_seconds,
        help="the pod pushes a checkpoint of the work tree this often, which a rerun after a "
        "hard fault (node lost) continues from; 0 = off",
        fallback=str(DEFAULT_CHECKPOINT_SECONDS),
    ),
    EnvOption(
        flag="--max-tokens",
        env="SPECKIT_PODS_MAX_TOKENS",
        metavar="N",
        parse=_tokens,
        help="LLM token budget (input + output, counted by the pod's LLM proxy): reaching it "
        "ends the run as over-budget, WIP pushed",
        fallback="none",
    ),
    EnvOption(
        flag="--llm-price",
        env="SPECKIT_PODS_LLM_PRICE",
        metavar="IN/OUT",
        parse=Price.parse,
        help=f"your price, {PRICE_FORMAT}: the cost of a task is the tokens the pod's LLM "
        "proxy counted at this price, not opencode's own figure (the agent can change that)",
        fallback="the cost is not known",
    ),
    EnvOption(
        flag="--max-cost",
        env="SPECKIT_PODS_MAX_COST",
        metavar="USD",
        parse=_dollars,
        help="LLM cost budget in US dollars (the counted tokens at --llm-price, which it "
        "needs): reaching it ends the run as over-budget, WIP pushed",
        fallback="none",
    ),
)


def add_pod_options(parser: argparse.ArgumentParser, title: str = "each pod") -> None:
    """Add what each pod runs and how: repository, model, image, limits, secrets."""
    what = parser.add_argument_group(f"what {title} runs")
    what.add_argument(
        "--repo",
        metavar="URL",
        help="https://, http://, ssh:// or git@host:org/repo.git, no credentials "
        "(default: `git remote get-url origin`)",
    )
    what.add_argument(
        "--base", metavar="BRANCH", help="branch to clone (default: current branch, else main)"
    )
    what.add_argument(
        "--start-from-base",
        action="store_true",
        help="start from the base branch alone, not from the pushed work of the done "
        "[ASYNC] tasks it depends on (the default; read with your git credentials)",
    )
    what.add_argument(
        "--model", default="", metavar="P/M", help="OpenCode model (default: from opencode.json)"
    )
    what.add_argument(
        "--requested-by",
        metavar='"N <E>"',
        help="Co-authored-by trailer (default: git config user.name/email)",
    )
    pod = parser.add_argument_group(title)
    default_ns = os.environ.get("SPECKIT_PODS_NAMESPACE") or DEFAULT_NAMESPACE
    pod.add_argument(
        "--namespace",
        default=default_ns,
        metavar="NS",
        help="default %(default)s (or $SPECKIT_PODS_NAMESPACE)",
    )
    pod.add_argument("--context", dest="kube_context", metavar="CTX", help="kubeconfig context")
    pod.add_argument(
        "--image",
        default=os.environ.get("SPECKIT_PODS_IMAGE") or manifests.DEFAULT_IMAGE,
        help="agent image, as your cluster pulls it (default: $SPECKIT_PODS_IMAGE, "
        f"else {manifests.DEFAULT_IMAGE})",
    )
    pod.add_argument(
        "--toolchain-image",
        default=os.environ.get("SPECKIT_PODS_TOOLCHAIN_IMAGE") or "",
        metavar="IMAGE",
        help="the repository's toolchain: an image FROM the agent image with its tools "
        "(examples/toolchain/), for the agent container only; the git and llm-proxy "
        "containers keep --image (default: $SPECKIT_PODS_TOOLCHAIN_IMAGE, else --image)",
    )
    pod.add_argument(
        "--setup-timeout",
        type=duration,
        default="10m",
        metavar="DUR",
        help="time limit of the repository's .speckit-pods/setup.sh, run before the agent; "
        "reaching it ends the task setup-failed (default %(default)s)",
    )
    pod.add_argument(
        "--timeout",
        type=duration,
        default="2h",
        metavar="DUR",
        help=f"run deadline, {EXAMPLES} (default %(default)s)",
    )
    pod.add_argument(
        "--stall-timeout",
        type=duration,
        default="10m",
        metavar="DUR",
        help="stop after this long without agent output (default %(default)s)",
    )
    for option in ENV_OPTIONS:  # --checkpoint-interval, --max-tokens, --llm-price, --max-cost
        pod.add_argument(
            option.flag,
            type=option.type,
            default=os.environ.get(option.env) or None,
            metavar=option.metavar,
            help=f"{option.help} (default: ${option.env}, else {option.fallback})",
        )
    pod.add_argument(
        "--cleanup",
        choices=("always", "on-success", "never"),
        default="on-success",
        metavar="WHEN",
        help="delete the pod when it ends: always | on-success | never (default %(default)s)",
    )
    pod.add_argument(
        "--keep-for",
        type=duration,
        default="24h",
        metavar="DUR",
        help="how long a kept pod stays before it is swept (default %(default)s)",
    )
    pod.add_argument(
        "--git-secret",
        default="speckit-pods-git",
        metavar="NAME",
        help="Secret with token[/username] or ssh-privatekey[/known_hosts] (default %(default)s)",
    )
    pod.add_argument(
        "--llm-secret",
        default="speckit-pods-llm",
        metavar="NAME",
        help="Secret whose keys become the agent's env (default %(default)s)",
    )
    limits = manifests.Resources()
    pod.add_argument("--cpu", metavar="Q", help=f"CPU limit (default {limits.cpu_limit})")
    pod.add_argument("--memory", metavar="Q", help=f"memory limit (default {limits.memory_limit})")
    insecure = os.environ.get("SPECKIT_PODS_ALLOW_INSECURE_HTTP", "") == "1"
    pod.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=insecure,
        help="let the pod send the git token over a cleartext http:// repository URL "
        "(test servers only; default: SPECKIT_PODS_ALLOW_INSECURE_HTTP=1)",
    )


def _checkpoint_s(args: argparse.Namespace) -> int:
    value = getattr(args, "checkpoint_interval", None)
    return DEFAULT_CHECKPOINT_SECONDS if value is None else int(value)


def _check_text(value: str, what: str) -> str:
    if any(ord(c) < 0x20 for c in value):
        raise InvalidInputError(f"{what} contains control characters: {value!r}")
    return value


def _check_model(model: str) -> str:
    if model and "/" not in model:
        raise InvalidInputError(
            f"invalid --model {model!r}: expected provider/model",
            hint="e.g. --model anthropic/claude-sonnet-4-5 (see `opencode models`)",
        )
    return _check_text(model, "--model")


def _toolchain_image(args: argparse.Namespace) -> str:
    """``--toolchain-image``, checked; "" when it is unset or the agent image itself."""
    toolchain = getattr(args, "toolchain_image", "") or ""
    if not toolchain:
        return ""
    images.check_image(toolchain, "--toolchain-image", "SPECKIT_PODS_TOOLCHAIN_IMAGE")
    return "" if toolchain == args.image else toolchain


def spawn_options(
    args: argparse.Namespace, *, task_id: str = "", tasks_file: Path | None = None, **extra: Any
) -> SpawnOptions:
    """Check the pod options in ``args`` and build ``SpawnOptions`` (``extra`` added as is).

    Raises:
        InvalidInputError: a malformed model, image or requester.
        UsageError: a cost budget without a price.
    """
    from runtime.spawn.create import SpawnOptions, require_price

    require_price(getattr(args, "max_cost", None), getattr(args, "llm_price", None))
    requested_by = args.requested_by
    fields = {
        "task_id": task_id,
        "tasks_file": tasks_file,
        "repo": args.repo,
        "base": args.base,
        "namespace": args.namespace,
        "kube_context": args.kube_context,
        "image": images.check_image(args.image, "--image", "SPECKIT_PODS_IMAGE"),
        "toolchain_image": _toolchain_image(args),
        "model": _check_model(args.model),
        "timeout_s": args.timeout,
        "stall_s": args.stall_timeout,
        "checkpoint_s": _checkpoint_s(args),
        "setup_s": args.setup_timeout,
        "max_tokens": getattr(args, "max_tokens", None),
        "llm_price": getattr(args, "llm_price", None),
        "max_cost": getattr(args, "max_cost", None),
        "cleanup": args.cleanup,
        "keep_for_s": args.keep_for,
        "git_secret": args.git_secret,
        "llm_secret": args.llm_secret,
        "requested_by": _check_text(requested_by, "--requested-by") if requested_by else None,
        "cpu": args.cpu,
        "memory": args.memory,
        "allow_insecure_http": bool(getattr(args, "allow_insecure_http", False)),
        "start_from_base": bool(getattr(args, "start_from_base", False)),
    }
    known = {f.name for f in dataclasses.fields(SpawnOptions)}
    unknown = set(extra) - known
    if unknown:
        raise TypeError(f"not SpawnOptions fields: {sorted(unknown)}")
    return SpawnOptions(**{**fields, **extra})
