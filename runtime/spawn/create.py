"""The spawn pipeline: task -> rendered Pod + ConfigMap -> cluster.

``plan()`` reads the local side only (tasks.md, context files, git defaults) and
renders the manifests; it never touches the cluster, so ``--dry-run`` works without
a kubeconfig.  ``apply()`` sweeps expired pods and orphaned ConfigMaps, frees the task's
slot (refusing a duplicate unless ``--replace``) and creates the ConfigMap, the Pod and
the Pod's ownership of the ConfigMap, deleting what it created if a step fails.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from runtime.contract import pod as pod_contract
from runtime.contract.cost import PRICE_EXAMPLES, Price
from runtime.contract.start import StartPoint
from runtime.errors import InvalidInputError, SpeckitPodsError, UsageError
from runtime.kube import pods
from runtime.kube.client import DEFAULT_NAMESPACE, Kube, connect
from runtime.spawn import context, manifests, names, prompt, repo, start
from runtime.tasks.feature import feature_dir, feature_name, find_tasks_file
from runtime.tasks.parse import Task, parse_tasks, print_duplicate_warnings
from runtime.tasks.plan import done_async_tasks

log = logging.getLogger(__name__)

CLEANUP_POLICIES = ("always", "on-success", "never")


@dataclasses.dataclass(frozen=True)
class SpawnOptions:
    """The spawn command's inputs (see ``scripts/spawn-pod.sh --help``)."""

    task_id: str
    branch: str | None = None
    repo: str | None = None
    context_dir: Path | None = None
    tasks_file: Path | None = None
    base: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    kube_context: str | None = None
    image: str = manifests.DEFAULT_IMAGE
    toolchain_image: str = ""  # the agent container's image (FROM image); "": image
    model: str = ""
    timeout_s: int = 2 * 3600
    stall_s: int = 600
    checkpoint_s: int = pod_contract.DEFAULT_CHECKPOINT_SECONDS  # 0: no checkpoints
    setup_s: int = pod_contract.DEFAULT_SETUP_SECONDS  # the repository's setup script's limit
    max_tokens: int | None = None  # the LLM proxy's token budget; None: no limit
    llm_price: Price | None = None  # the developer's price per token; None: the cost unknown
    max_cost: Decimal | None = None  # the LLM proxy's cost budget, US dollars; None: no limit
    cleanup: str = "on-success"
    keep_for_s: int = 24 * 3600
    git_secret: str = "speckit-pods-git"
    llm_secret: str = "speckit-pods-llm"
    requested_by: str | None = None
    replace: bool = False
    dry_run: bool = False
    cpu: str | None = None
    memory: str | None = None
    allow_insecure_http: bool = False
    max_context_bytes: int = context.DEFAULT_MAX_BYTES
    start_from_base: bool = False  # ignore the prerequisites' work (runtime.spawn.start)
    written_deps_only: bool = False  # prerequisites by written dependencies only


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a spawn will create."""

    spec: manifests.PodSpecInput
    task: Task

    @property
    def pod(self) -> dict[str, Any]:
        """The Pod manifest."""
        return manifests.render_pod(self.spec)

    def configmap(self, owner_uid: str | None = None) -> dict[str, Any]:
        """The task ConfigMap manifest, owned by the pod ``owner_uid`` if given."""
        return manifests.render_configmap(self.spec, owner_uid)

    def to_yaml(self) -> str:
        """Both manifests as one YAML stream, ConfigMap first, as they are created."""
        return manifests.to_yaml([self.configmap(), self.pod])


def default_branch(feature: str, task_id: str) -> str:
    """The task branch the agentic-sdlc fork uses: ``specs/<feature>/<TID>-async``."""
    return f"specs/{feature}/{task_id}-async"


def _tasks_file(opts: SpawnOptions, cwd: Path, env: Mapping[str, str]) -> Path:
    explicit = opts.tasks_file
    if explicit is None and opts.context_dir is not None:
        explicit = opts.context_dir / "tasks.md"
    return find_tasks_file(explicit, cwd=cwd, env=env)


def _check_task(task: Task) -> None:
    if not task.is_async:
        log.warning("task %s is not marked [ASYNC]; spawning it anyway", task.id)
    if task.is_done:
        log.warning("task %s is already checked off in tasks.md; spawning it anyway", task.id)


def repo_url_of(opts: SpawnOptions) -> str | None:
    """The repository the pods of ``opts`` clone, or ``None`` when it cannot be told."""
    try:
        if opts.repo:
            return repo.check_repo_url(opts.repo)
        tasks_file = _tasks_file(opts, Path.cwd(), os.environ).resolve()
        return _repo_url(opts, tasks_file.parent)
    except SpeckitPodsError:
        return None


def _repo_url(opts: SpawnOptions, repo_dir: Path) -> str:
    if opts.repo:
        return repo.check_repo_url(opts.repo)
    origin = repo.origin_url(repo_dir)
    if not origin:
        raise InvalidInputError(
            f"no --repo given and no `origin` remote in {repo_dir}",
            hint="pass --repo https://host/org/repo.git",
        )
    try:
        return repo.check_repo_url(origin)
    except InvalidInputError as err:
        err.hint = f"the `origin` remote of {repo_dir} is not usable; pass --repo. {err.hint}"
        raise


def _check_options(opts: SpawnOptions) -> None:
    if opts.cleanup not in CLEANUP_POLICIES:
        raise InvalidInputError(
            f"invalid cleanup policy {opts.cleanup!r}",
            hint=f"use one of {', '.join(CLEANUP_POLICIES)}",
        )
    if not names.is_dns_label(opts.namespace):
        raise InvalidInputError(f"invalid namespace name {opts.namespace!r}")
    if opts.timeout_s < 10:
        raise InvalidInputError(f"timeout too short: {opts.timeout_s}s", hint="use at least 10s")
    if opts.checkpoint_s < 0:
        raise InvalidInputError(
            f"invalid --checkpoint-interval {opts.checkpoint_s}: must be 0 (off) or more seconds"
        )
    if opts.stall_s < 1 or opts.setup_s < 1 or opts.keep_for_s < 0:
        raise InvalidInputError(
            "stall and setup timeouts must be positive and keep-for not negative"
        )
    if opts.max_tokens is not None and opts.max_tokens < 1:
        raise InvalidInputError(f"invalid --max-tokens {opts.max_tokens}: must be positive")
    if opts.max_cost is not None and opts.max_cost <= 0:
        raise InvalidInputError(f"invalid --max-cost {opts.max_cost}: must be above zero")
    require_price(opts.max_cost, opts.llm_price)


def require_price(max_cost: Decimal | None, price: Price | None) -> None:
    """Refuse a cost budget without a price (:class:`UsageError`): its cost is unknown."""
    if max_cost is not None and price is None:
        raise UsageError(
            "--max-cost needs your price: a task's cost is the tokens the pod's LLM proxy "
            "counts, at the price you give",
            hint="set SPECKIT_PODS_LLM_PRICE=IN/OUT (or pass --llm-price IN/OUT): US dollars "
            f"per million input / output tokens, {PRICE_EXAMPLES}",
        )


def plan(
    opts: SpawnOptions,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    clock: pods.Clock = pods.SYSTEM_CLOCK,
    git: start.Runner | None = None,
) -> Plan:
    """Resolve every input and render the manifests; touches no cluster.

    A task that depends on done [ASYNC] tasks reads their branches' commits from the
    remote (``git ls-remote``, run by ``git``) unless ``opts.start_from_base``.
    """
    _check_options(opts)
    env = os.environ if env is None else env
    tasks_file = _tasks_file(opts, cwd or Path.cwd(), env).resolve()
    task_list = parse_tasks(tasks_file)
    task = task_list.get(opts.task_id)
    _check_task(task)
    feature = feature_name(tasks_file)
    repo_dir = tasks_file.parent
    branch = repo.check_branch(opts.branch or default_branch(feature, task.id))
    base = _base(opts, repo_dir)
    if branch == base:
        raise InvalidInputError(
            f"the task branch and the base branch are both {branch!r}",
            hint="the agent pushes to the task branch: give it its own --branch",
        )
    files = context.collect(opts.context_dir or feature_dir(tasks_file), opts.max_context_bytes)
    extra = prompt.PromptInput(feature, branch, base, tuple(f.rel_path for f in files))
    now = clock.now()
    repo_url = _repo_url(opts, repo_dir)
    points: tuple[StartPoint, ...] = ()
    if not opts.start_from_base:
        points = start.start_points(
            task_list,
            task,
            repo_url,
            lambda tid: default_branch(feature, tid),
            written_only=opts.written_deps_only,
            run=git,
        )
    spec = _pod_spec(
        opts, tasks_file, task.id, task.title, repo_url, branch, base, now, points,
        prompt=prompt.render(task, extra), context=files, model=opts.model,
    )  # fmt: skip
    return Plan(spec=spec, task=task)


def _pod_spec(
    opts: SpawnOptions,
    tasks_file: Path,
    task_id: str,
    title: str,
    repo_url: str,
    branch: str,
    base: str,
    now: datetime.datetime,
    points: tuple[StartPoint, ...],
    **extra: Any,
) -> manifests.PodSpecInput:
    """The pod of ``task_id`` with what every pod takes from the options and the checkout."""
    feature = feature_name(tasks_file)
    return manifests.PodSpecInput(
        name=names.pod_name(feature, task_id, repo_url),
        namespace=opts.namespace,
        run_id=names.run_id(now),
        task_id=task_id,
        task_title=title,
        task_label=names.label_value(task_id),
        feature_label=names.label_value(feature),
        feature=feature,
        repo_url=repo_url,
        branch=branch,
        base=base,
        tasks_file=str(tasks_file),
        created_at=now,
        timeout_s=opts.timeout_s,
        stall_s=opts.stall_s,
        checkpoint_s=opts.checkpoint_s,
        setup_s=opts.setup_s,
        max_tokens=opts.max_tokens,
        llm_price=opts.llm_price,
        max_cost=opts.max_cost,
        keep_for_s=opts.keep_for_s,
        cleanup=opts.cleanup,
        image=opts.image,
        toolchain_image=opts.toolchain_image,
        git_secret=opts.git_secret,
        llm_secret=opts.llm_secret,
        requested_by=opts.requested_by or repo.user_ident(tasks_file.parent) or "",
        resources=manifests.resources_with_limits(opts.cpu, opts.memory),
        allow_insecure_http=opts.allow_insecure_http,
        start_points=points,
        **extra,
    )


def _base(opts: SpawnOptions, repo_dir: Path) -> str:
    """The base branch: ``--base``, else the checkout's branch, else ``main``."""
    return repo.check_branch(opts.base or repo.current_branch(repo_dir) or "main", "base branch")


def integration_branch(feature: str) -> str:
    """A feature's default integration branch: ``specs/<feature>/integration``."""
    return f"specs/{feature}/integration"


def plan_integration(
    opts: SpawnOptions,
    *,
    branch: str | None = None,
    test_command: str = "",
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    clock: pods.Clock = pods.SYSTEM_CLOCK,
    git: start.Runner | None = None,
) -> Plan | None:
    """Plan the feature's integration pod.

    Its done [ASYNC] tasks' pushed work is merged into ``branch``, one merge commit
    per task, then ``test_command`` runs on the result.

    ``None`` when no done task has a branch on the remote (nothing to integrate).

    Raises:
        InvalidInputError: the branch is invalid or the base branch.
        RemoteError: the remote cannot be read (``runtime.spawn.start``).
    """
    _check_options(opts)
    env = os.environ if env is None else env
    tasks_file = _tasks_file(opts, cwd or Path.cwd(), env).resolve()
    task_list = parse_tasks(tasks_file)
    feature = feature_name(tasks_file)
    repo_dir = tasks_file.parent
    target = repo.check_branch(branch or integration_branch(feature), "integration branch")
    base = _base(opts, repo_dir)
    if target == base:
        raise InvalidInputError(
            f"the integration branch is the base branch {base!r}",
            hint="the integration never writes the base: give it its own branch",
        )
    repo_url = _repo_url(opts, repo_dir)
    done = done_async_tasks(task_list, written_only=opts.written_deps_only)
    points = start.pinned(done, repo_url, lambda tid: default_branch(feature, tid), git)
    if not points:
        return None
    title = f"Integrate {feature}: {', '.join(p.task for p in points)}"
    spec = _pod_spec(
        opts, tasks_file, pod_contract.INTEGRATION_TASK, title, repo_url, target, base,
        clock.now(), points,
        prompt=f"{title}\n\nNo agent runs: the merges, then the test command.\n",
        context=(), integrate=True, test_command=test_command,
    )  # fmt: skip
    return Plan(spec=spec, task=done[-1])


def _sweep(kube: Kube, clock: pods.Clock) -> None:
    """Delete expired kept pods and orphaned ConfigMaps; a failure never stops the spawn."""
    from runtime.kube.cleanup import sweep_expired, sweep_orphans

    for what, sweep in (("expired pods", sweep_expired), ("orphaned configmaps", sweep_orphans)):
        try:
            sweep(kube, now=clock.now())
        except SpeckitPodsError as err:
            log.warning("could not sweep %s: %s", what, err.message)


def apply(
    the_plan: Plan, kube: Kube, *, replace: bool, clock: pods.Clock = pods.SYSTEM_CLOCK
) -> str:
    """Create the planned ConfigMap and Pod; return the pod name."""
    core: pods.CoreApi = kube.core
    _sweep(kube, clock)
    pods.free_slot(core, the_plan.pod, replace=replace, clock=clock)
    name = pods.create(core, the_plan.pod, the_plan.configmap)
    log.info(
        "created pod %s for task %s (branch %s, run %s)",
        name,
        the_plan.spec.task_id,
        the_plan.spec.branch,
        the_plan.spec.run_id,
    )
    return name


Connector = Callable[[str | None, str | None], Kube]


def run(
    opts: SpawnOptions,
    *,
    out: Callable[[str], object] = print,
    connector: Connector = connect,
    clock: pods.Clock = pods.SYSTEM_CLOCK,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run the whole spawn; print the pod name (or the YAML with ``dry_run``)."""
    the_plan = plan(opts, cwd=cwd, env=env, clock=clock)
    print_duplicate_warnings(parse_tasks(Path(the_plan.spec.tasks_file)))
    if opts.dry_run:
        out(the_plan.to_yaml().rstrip("\n"))
        return 0
    kube = connector(opts.namespace, opts.kube_context)
    out(apply(the_plan, kube, replace=opts.replace, clock=clock))
    return 0
