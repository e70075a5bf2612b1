from __future__ import annotations

import copy
import dataclasses
import datetime
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.contract.cost import Price
from runtime.contract.exit_codes import ExitCode
from runtime.errors import (
    AlreadyRunningError,
    InvalidInputError,
    KubeApiError,
    KubeConfigError,
    QuotaExceededError,
    TasksFileNotFoundError,
    UnknownTaskError,
    UsageError,
)
from runtime.kube import labels
from runtime.kube.cleanup import TASK_CONFIGMAPS
from runtime.kube.client import Kube
from runtime.spawn import create as spawn
from runtime.spawn import names
from tests.unit.fakes import SpawnClock, SpawnCore, api_exception, feature_repo, git, spawn_pod

POD = names.pod_name("001-photo-albums", "T012", "https://git.example.com/acme/photos.git")
RUN = "20261125t120000-abc123"
CM = names.configmap_name(POD, RUN)
TASK_LABELS = {
    labels.MANAGED_BY: "speckit-pods",
    labels.TASK: "T012",
    labels.FEATURE: "001-photo-albums",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    feature_repo(tmp_path / "photos")
    return tmp_path / "photos"


@pytest.fixture
def clock() -> SpawnClock:
    return SpawnClock()


@pytest.fixture(autouse=True)
def run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every spawn here has run id ``RUN`` (so its ConfigMap is ``CM``)."""
    monkeypatch.setattr(names, "run_id", lambda now=None: RUN)


def opts(**changes: Any) -> spawn.SpawnOptions:
    return dataclasses.replace(spawn.SpawnOptions(task_id="T012"), **changes)


def run(repo: Path, core: SpawnCore, clock: SpawnClock, **changes: Any) -> tuple[int, list[str]]:
    out: list[str] = []
    code = spawn.run(
        opts(**changes),
        out=out.append,
        connector=core.connector(),
        clock=clock.as_clock(),
        cwd=repo,
        env={},
    )
    return code, out


def no_cluster(namespace: str | None, context: str | None) -> Kube:
    raise AssertionError("the cluster must not be contacted")


# --- plan: local inputs -------------------------------------------------------------------


def test_plan_takes_defaults_from_the_checkout(repo: Path) -> None:
    plan = spawn.plan(opts(), cwd=repo, env={})
    s = plan.spec
    assert s.name == POD
    assert s.repo_url == "https://git.example.com/acme/photos.git"
    assert s.base == "001-photo-albums"  # the checked-out branch
    assert s.branch == "specs/001-photo-albums/T012-async"
    assert s.requested_by == "Ada Lovelace <ada@example.com>"
    assert s.tasks_file == str((repo / "specs/001-photo-albums/tasks.md").resolve())
    assert [f.rel_path for f in s.context] == [
        "spec.md",
        "plan.md",
        "tasks.md",
        "contracts/v1/albums.yaml",
    ]
    assert "SCRIPTED_LLM: write-file" in s.prompt


def test_the_token_budget_reaches_the_pod_spec(repo: Path) -> None:
    assert spawn.plan(opts(), cwd=repo, env={}).spec.max_tokens is None
    assert spawn.plan(opts(max_tokens=5000), cwd=repo, env={}).spec.max_tokens == 5000


def test_the_price_and_the_cost_budget_reach_the_pod_spec(repo: Path) -> None:
    unpriced = spawn.plan(opts(), cwd=repo, env={}).spec
    assert (unpriced.llm_price, unpriced.max_cost) == (None, None)
    price = Price.parse("3/15")
    priced = spawn.plan(opts(llm_price=price, max_cost=Decimal("0.5")), cwd=repo, env={}).spec
    assert (priced.llm_price, priced.max_cost) == (price, Decimal("0.5"))


def test_a_cost_budget_without_a_price_is_a_usage_error(repo: Path) -> None:
    with pytest.raises(UsageError) as caught:
        spawn.plan(opts(max_cost=Decimal("0.5")), cwd=repo, env={})
    assert caught.value.exit_code == ExitCode.USAGE
    assert "--max-cost needs your price" in caught.value.message
    assert "SPECKIT_PODS_LLM_PRICE" in caught.value.hint


def test_fork_style_flags_win_over_defaults(repo: Path, tmp_path: Path) -> None:
    feature = repo / "specs" / "001-photo-albums"
    plan = spawn.plan(
        opts(
            branch="feature/t12",
            repo="git@github.com:acme/photos.git",
            context_dir=feature,
            base="develop",
            requested_by="Bob <bob@example.com>",
        ),
        cwd=tmp_path,  # not inside the repo: --context-dir finds tasks.md
        env={},
    )
    assert (plan.spec.branch, plan.spec.base) == ("feature/t12", "develop")
    assert plan.spec.repo_url == "git@github.com:acme/photos.git"
    assert plan.spec.requested_by == "Bob <bob@example.com>"


def test_base_defaults_to_main_when_head_is_detached(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    git(repo, "checkout", "-q", "--detach")
    assert (
        spawn.plan(opts(tasks_file=repo / "specs/001-photo-albums/tasks.md"), env={}).spec.base
        == "main"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://ada:ghp_secret@github.com/acme/photos.git",
        "https://ghp_secret@github.com/acme/photos.git",
        "ssh://git:pw@host/acme/photos.git",
    ],
)
def test_repo_urls_with_credentials_are_refused_without_echoing_them(repo: Path, url: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        spawn.plan(opts(repo=url), cwd=repo, env={})
    assert info.value.exit_code == 26
    assert "credentials" in info.value.message
    assert "secret" not in info.value.message.replace("Secret", "")
    assert "pw@" not in info.value.message


@pytest.mark.parametrize("url", ["/srv/git/photos", "file:///srv/git/photos", "ftp://h/x", "a b"])
def test_repo_urls_a_pod_cannot_clone_are_refused(repo: Path, url: str) -> None:
    with pytest.raises(InvalidInputError):
        spawn.plan(opts(repo=url), cwd=repo, env={})


def test_origin_with_credentials_is_refused_with_a_hint(tmp_path: Path) -> None:
    root = tmp_path / "r"
    feature_repo(root, origin="https://x:tok@git.example.com/acme/photos.git")
    with pytest.raises(InvalidInputError) as info:
        spawn.plan(opts(), cwd=root, env={})
    assert "--repo" in info.value.hint and "tok" not in info.value.message


def test_no_origin_and_no_repo_is_an_input_error(tmp_path: Path) -> None:
    root = tmp_path / "r"
    feature_repo(root, origin=None)
    with pytest.raises(InvalidInputError, match="no --repo"):
        spawn.plan(opts(), cwd=root, env={})


def test_bad_branch_names_are_refused(repo: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        spawn.plan(opts(branch="specs/x..y"), cwd=repo, env={})
    assert info.value.exit_code == 26 and "'..'" in info.value.message
    with pytest.raises(InvalidInputError, match="base branch"):
        spawn.plan(opts(base="main.lock"), cwd=repo, env={})


def test_task_branch_equal_to_base_is_refused(repo: Path) -> None:
    with pytest.raises(InvalidInputError, match="both"):
        spawn.plan(opts(branch="main", base="main"), cwd=repo, env={})


def test_unknown_task_names_the_nearest(repo: Path) -> None:
    with pytest.raises(UnknownTaskError) as info:
        spawn.plan(opts(task_id="T021"), cwd=repo, env={})
    assert info.value.exit_code == 13
    assert "T012" in info.value.hint


def test_no_tasks_file(tmp_path: Path) -> None:
    with pytest.raises(TasksFileNotFoundError):
        spawn.plan(opts(context_dir=tmp_path), cwd=tmp_path, env={})


def test_non_async_and_done_tasks_warn_but_spawn(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        spawn.plan(opts(task_id="T002"), cwd=repo, env={})
        spawn.plan(opts(task_id="T001"), cwd=repo, env={})
    assert "T002 is not marked [ASYNC]" in caplog.text
    assert "T001 is already checked off" in caplog.text


@pytest.mark.parametrize(
    "changes",
    [
        {"cleanup": "sometimes"},
        {"namespace": "Bad_NS"},
        {"timeout_s": 5},
        {"stall_s": 0},
        {"max_tokens": 0},
        {"max_cost": Decimal(0), "llm_price": Price.parse("3/15")},
    ],
)
def test_invalid_options(repo: Path, changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        spawn.plan(opts(**changes), cwd=repo, env={})


# --- run: dry run ---------------------------------------------------------------------------


def test_dry_run_prints_yaml_and_never_connects(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    out: list[str] = []
    code = spawn.run(opts(dry_run=True), out=out.append, connector=no_cluster, cwd=repo, env={})
    assert code == 0
    docs = list(yaml.safe_load_all(out[0]))
    assert [d["kind"] for d in docs] == ["ConfigMap", "Pod"]  # as they are created
    assert docs[1]["metadata"]["name"] == POD
    assert "ownerReferences" not in docs[0]["metadata"]


def test_without_kubeconfig_a_real_spawn_is_a_config_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError):
        spawn.run(opts(), out=print, cwd=repo, env={})


# --- run: against the fake cluster --------------------------------------------------------


WRITES = ("create_", "patch_namespaced_config_map", "delete_namespaced_config_map")


def writes(core: SpawnCore) -> list[tuple[str, str]]:
    """The calls that create, own or delete the task's objects, in order."""
    return [c for c in core.calls if c[0].startswith(WRITES)]


def test_creates_the_configmap_then_the_pod_then_owns_it_and_prints_the_name(
    repo: Path, clock: SpawnClock
) -> None:
    core = SpawnCore()
    code, out = run(repo, core, clock)
    assert (code, out) == (0, [POD])
    pod = core.pods[POD]
    cm = core.configmaps[CM]
    assert cm["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": POD, "uid": pod["metadata"]["uid"]}
    ]
    assert writes(core) == [
        ("create_namespaced_config_map", CM),
        ("create_namespaced_pod", POD),
        ("patch_namespaced_config_map", CM),
    ]
    volumes = [v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v]
    assert CM in volumes  # the ConfigMap the pod mounts existed before the pod
    assert core.configmaps[CM]["data"]["prompt.md"]


def test_the_configmap_is_created_without_an_owner(repo: Path, clock: SpawnClock) -> None:
    class Recording(SpawnCore):
        created: list[dict[str, Any]] = []

        def create_namespaced_config_map(self, namespace: str, body: Any, **kw: Any) -> Any:
            self.created.append(copy.deepcopy(body))
            return super().create_namespaced_config_map(namespace, body, **kw)

    core = Recording()
    assert run(repo, core, clock)[0] == 0
    (body,) = core.created
    assert "ownerReferences" not in body["metadata"]
    assert body["metadata"]["labels"][labels.TASK] == "T012"  # labelled like the pod
    assert (
        body["metadata"]["labels"][labels.RUN] == core.pods[POD]["metadata"]["labels"][labels.RUN]
    )


@pytest.mark.parametrize("phase", ["Pending", "Running"])
def test_a_running_pod_of_the_task_is_refused(repo: Path, clock: SpawnClock, phase: str) -> None:
    core = SpawnCore()
    core.add(spawn_pod("sp-old-name", phase, TASK_LABELS))
    with pytest.raises(AlreadyRunningError) as info:
        run(repo, core, clock)
    assert info.value.exit_code == 22
    assert "sp-old-name" in info.value.message and "--replace" in info.value.hint
    assert list(core.pods) == ["sp-old-name"] and not core.configmaps


def test_a_pod_whose_agent_has_exited_does_not_block_a_rerun(repo: Path, clock: SpawnClock) -> None:
    """The agent container ends a moment before the kubelet moves the phase to Failed."""
    core = SpawnCore()
    old = spawn_pod(POD, "Running", TASK_LABELS)
    old["status"]["containerStatuses"] = [
        {"name": "agent", "state": {"terminated": {"exitCode": 124}}}
    ]
    core.add(old)
    assert run(repo, core, clock) == (0, [POD])
    assert core.pods[POD]["metadata"]["uid"] == "uid-1"  # the earlier run's pod was replaced


def test_pods_of_other_tasks_or_features_do_not_block(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore()
    core.add(spawn_pod("other-task", "Running", {**TASK_LABELS, labels.TASK: "T013"}))
    core.add(spawn_pod("other-feature", "Running", {**TASK_LABELS, labels.FEATURE: "002-x"}))
    assert run(repo, core, clock)[0] == 0
    assert set(core.pods) == {"other-task", "other-feature", POD}


def test_replace_deletes_the_running_pod_and_waits_for_it(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore(graceful_reads=3)
    core.add(spawn_pod(POD, "Running", TASK_LABELS))
    core.configmaps[CM] = {"metadata": {"name": CM, "ownerReferences": [{"uid": f"uid-{POD}"}]}}
    code, out = run(repo, core, clock, replace=True)
    assert (code, out) == (0, [POD])
    assert core.pods[POD]["metadata"]["uid"] == "uid-1"  # the new pod
    assert core.configmaps[CM]["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert clock.slept, "waited for the old pod to terminate"
    delete = core.calls.index(("delete_namespaced_pod", POD))
    assert delete < core.calls.index(("create_namespaced_pod", POD))
    # marked as ours first: whoever follows the old pod must not rerun it as lost
    assert core.calls.index(("patch_namespaced_pod", POD)) < delete


def test_replace_gives_up_when_the_old_pod_never_goes(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore(graceful_reads=10_000)
    core.add(spawn_pod(POD, "Running", TASK_LABELS))
    with pytest.raises(KubeApiError, match="still terminating"):
        run(repo, core, clock, replace=True)
    assert ("create_namespaced_pod", POD) not in core.calls
    assert 100 <= sum(clock.slept) <= 130


def test_a_finished_pod_of_an_earlier_run_is_replaced(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore()
    core.add(spawn_pod(POD, "Failed", TASK_LABELS))
    assert run(repo, core, clock) == (0, [POD])
    assert core.pods[POD]["status"]["phase"] == "Pending"


def test_a_pod_stuck_on_a_lost_node_is_deleted_at_once(repo: Path, clock: SpawnClock) -> None:
    """The taint manager deleted it, but its kubelet is gone: it would never go by itself."""
    core = SpawnCore(graceful_reads=10_000)  # a graceful delete would never finish
    stuck = spawn_pod(POD, "Running", TASK_LABELS)
    stuck["metadata"]["deletionTimestamp"] = "2026-11-25T12:00:00Z"
    stuck["spec"] = {"nodeName": "kind-worker2"}
    stuck["status"]["conditions"] = [
        {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}
    ]
    core.add(stuck)
    assert run(repo, core, clock) == (0, [POD])
    assert core.pods[POD]["metadata"]["uid"] == "uid-1"  # the new pod, on another node


class TwiceSentCore(SpawnCore):
    """The API server created the pod, but the client sent the request again: 409."""

    def create_namespaced_pod(self, namespace: str, body: Any, **kw: Any) -> Any:
        super().create_namespaced_pod(namespace, body, **kw)
        return super().create_namespaced_pod(namespace, body, **kw)


def test_a_create_sent_twice_uses_the_pod_it_made(repo: Path, clock: SpawnClock) -> None:
    core = TwiceSentCore()
    assert run(repo, core, clock) == (0, [POD])
    uid = core.pods[POD]["metadata"]["uid"]
    assert core.configmaps[CM]["metadata"]["ownerReferences"][0]["uid"] == uid
    assert [c for c in writes(core) if "delete" in c[0]] == []  # nothing rolled back


class TwiceSentConfigMapCore(SpawnCore):
    """The API server created the ConfigMap, but the client sent the request again: 409."""

    def create_namespaced_config_map(self, namespace: str, body: Any, **kw: Any) -> Any:
        super().create_namespaced_config_map(namespace, body, **kw)
        return super().create_namespaced_config_map(namespace, body, **kw)


def test_a_configmap_create_sent_twice_uses_the_configmap_it_made(
    repo: Path, clock: SpawnClock
) -> None:
    core = TwiceSentConfigMapCore()
    assert run(repo, core, clock) == (0, [POD])
    uid = core.pods[POD]["metadata"]["uid"]
    assert core.configmaps[CM]["metadata"]["ownerReferences"][0]["uid"] == uid
    assert core.configmaps[CM]["metadata"]["uid"] == "cm-uid-1"  # the one it made, kept
    assert ("delete_namespaced_config_map", CM) not in core.calls


def test_a_pod_of_another_spawn_is_still_refused(repo: Path, clock: SpawnClock) -> None:
    class Raced(SpawnCore):
        def create_namespaced_pod(self, namespace: str, body: Any, **kw: Any) -> Any:
            other = copy.deepcopy(body)
            other["metadata"]["labels"][labels.RUN] = "another-run"
            super().create_namespaced_pod(namespace, other, **kw)
            return super().create_namespaced_pod(namespace, body, **kw)

    core = Raced()
    with pytest.raises(AlreadyRunningError, match="already exists"):
        run(repo, core, clock)
    assert not core.configmaps  # the ConfigMap it made is deleted again
    assert core.pods[POD]["metadata"]["labels"][labels.RUN] == "another-run"  # left alone


def test_a_terminating_pod_on_a_live_node_is_waited_for(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore(graceful_reads=10_000)
    going = spawn_pod(POD, "Running", TASK_LABELS)
    going["metadata"]["deletionTimestamp"] = "2026-11-25T12:00:00Z"
    core.add(going)
    with pytest.raises(KubeApiError, match="still terminating"):
        run(repo, core, clock)
    assert ("delete_namespaced_pod", POD) not in core.calls  # its kubelet stops it


def test_a_configmap_of_an_earlier_run_does_not_stand_in_the_way(
    repo: Path, clock: SpawnClock
) -> None:
    """Left by a spawn killed before its pod: the sweep deletes it after 10 min, not spawn."""
    core = SpawnCore()
    old = names.configmap_name(POD, "20261125t110000-0ld000")
    core.configmaps[old] = {"metadata": {"name": old, "labels": {labels.RUN: "old-run"}}}
    assert run(repo, core, clock)[0] == 0
    assert set(core.configmaps) == {old, CM}
    assert ("delete_namespaced_config_map", old) not in core.calls


def test_a_configmap_in_the_way_is_refused_never_replaced(repo: Path, clock: SpawnClock) -> None:
    """Not this spawn's (another run id): it may be mounted by a pod, so it stays."""
    core = SpawnCore()
    theirs = {"name": CM, "uid": "cm-uid-theirs", "labels": {labels.RUN: "another-run"}}
    core.configmaps[CM] = {"metadata": theirs, "data": {"prompt.md": "theirs"}}
    with pytest.raises(KubeApiError, match="creating configmap") as info:
        run(repo, core, clock)
    assert "\n" not in info.value.message
    assert core.configmaps[CM]["data"] == {"prompt.md": "theirs"} and not core.pods
    assert [c for c in writes(core) if "delete" in c[0]] == []


RUN_B = "20261125t120000-b0b000"
RACE_POINTS = (
    "create_namespaced_config_map",
    "create_namespaced_pod",
    "patch_namespaced_config_map",
)


@pytest.mark.parametrize("point", RACE_POINTS)
def test_two_spawns_of_one_task_racing_leave_the_winner_whole(
    repo: Path, clock: SpawnClock, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """Two dispatchers spawn the task at once: A's whole spawn runs inside B's, just
    before B's call ``point``, i.e. after B found the task's slot free.  The pod create
    decides; the loser deletes only its own ConfigMap, and the winner's pod mounts one
    that exists and that it owns.  (CI once saw B replace the ConfigMap of A's new pod
    before B lost the pod create, leaving A's pod stuck on a missing ConfigMap.)"""
    outcome: dict[str, BaseException | int] = {}

    def spawn(who: str, run_id: str) -> None:
        monkeypatch.setattr(names, "run_id", lambda now=None: run_id)
        try:
            outcome[who] = run(repo, core, clock)[0]
        except AlreadyRunningError as err:
            outcome[who] = err

    class Racing(SpawnCore):
        def __getattribute__(self, name: str) -> Any:
            method = super().__getattribute__(name)
            if name != point or started:
                return method

            def after_a(*args: Any, **kw: Any) -> Any:
                started.add("A")
                spawn("A", RUN)
                return method(*args, **kw)

            return after_a

    started: set[str] = set()
    core = Racing()
    spawn("B", RUN_B)
    winner, loser = ("A", "B") if point != "patch_namespaced_config_map" else ("B", "A")
    assert outcome[winner] == 0 and isinstance(outcome[loser], AlreadyRunningError), outcome
    pod = core.pods[POD]
    won_run = {"A": RUN, "B": RUN_B}[winner]
    assert pod["metadata"]["labels"][labels.RUN] == won_run
    (mounted,) = [v["configMap"]["name"] for v in pod["spec"]["volumes"] if v["name"] == "task"]
    assert set(core.configmaps) == {mounted} == {names.configmap_name(POD, won_run)}
    owners = core.configmaps[mounted]["metadata"]["ownerReferences"]
    assert owners == [
        {"apiVersion": "v1", "kind": "Pod", "name": POD, "uid": pod["metadata"]["uid"]}
    ]


def test_a_refused_configmap_creates_nothing(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore()
    core.fail["create_namespaced_config_map"] = api_exception(403, "Forbidden", "nope")
    with pytest.raises(KubeApiError) as info:
        run(repo, core, clock)
    assert info.value.exit_code == 24
    assert "speckit-pods-operator" in info.value.hint
    assert not core.pods and not core.configmaps
    assert ("create_namespaced_pod", POD) not in core.calls


@pytest.mark.parametrize(
    "failure", [api_exception(500, "Internal"), KeyboardInterrupt()], ids=["error", "interrupt"]
)
def test_a_failed_pod_create_deletes_the_configmap(
    repo: Path, clock: SpawnClock, failure: BaseException
) -> None:
    core = SpawnCore()
    core.fail["create_namespaced_pod"] = failure
    with pytest.raises(type(failure) if isinstance(failure, KeyboardInterrupt) else KubeApiError):
        run(repo, core, clock)
    assert not core.pods and not core.configmaps
    assert writes(core)[-1] == ("delete_namespaced_config_map", CM)


@pytest.mark.parametrize(
    "failure",
    [api_exception(500, "Internal"), api_exception(404, "Not Found"), KeyboardInterrupt()],
    ids=["error", "gone", "interrupt"],
)
def test_a_failed_owner_patch_deletes_the_pod_and_the_configmap(
    repo: Path, clock: SpawnClock, failure: BaseException
) -> None:
    core = SpawnCore()
    core.fail["patch_namespaced_config_map"] = failure
    with pytest.raises(type(failure) if isinstance(failure, KeyboardInterrupt) else KubeApiError):
        run(repo, core, clock)
    assert not core.pods and not core.configmaps
    assert writes(core)[-1] == ("delete_namespaced_config_map", CM)
    delete = core.calls.index(("delete_namespaced_pod", POD))
    assert core.calls.index(("patch_namespaced_config_map", CM)) < delete


def test_an_owner_patch_the_role_refuses_says_to_reapply_the_role(
    repo: Path, clock: SpawnClock
) -> None:
    """A Role applied before spawn patched ConfigMaps: the one-line error says what to do."""
    core = SpawnCore()
    core.fail["patch_namespaced_config_map"] = api_exception(
        403, "Forbidden", 'configmaps "x" is forbidden: cannot patch resource "configmaps"'
    )
    with pytest.raises(KubeApiError) as info:
        run(repo, core, clock)
    assert info.value.exit_code == 24 and "\n" not in info.value.message
    assert (
        "patch on configmaps" in info.value.hint
        and "kubectl apply -k manifests/" in info.value.hint
    )
    assert not core.pods and not core.configmaps


def test_a_configmap_replaced_before_the_patch_is_not_adopted(
    repo: Path, clock: SpawnClock
) -> None:
    """Our ConfigMap was deleted and made again (by hand) while we created the pod."""

    class Replaced(SpawnCore):
        def create_namespaced_pod(self, namespace: str, body: Any, **kw: Any) -> Any:
            created = super().create_namespaced_pod(namespace, body, **kw)
            theirs = self.configmaps[CM]["metadata"]
            theirs.update(uid="cm-uid-theirs", resourceVersion="9")
            return created

    core = Replaced()
    with pytest.raises(KubeApiError, match="setting the owner of configmap") as info:
        run(repo, core, clock)
    assert "another spawn" in info.value.hint
    assert not core.pods  # ours rolled back
    theirs = core.configmaps[CM]["metadata"]
    assert theirs["uid"] == "cm-uid-theirs" and "ownerReferences" not in theirs  # left alone


def test_failed_rollback_is_reported_with_the_manual_command(
    repo: Path, clock: SpawnClock, caplog: pytest.LogCaptureFixture
) -> None:
    core = SpawnCore()
    core.fail["patch_namespaced_config_map"] = api_exception(500, "Internal")
    core.fail["delete_namespaced_pod"] = api_exception(500, "Internal")
    core.fail["delete_namespaced_config_map"] = api_exception(500, "Internal")
    with pytest.raises(KubeApiError, match="setting the owner"):  # the cause, not the rollback
        run(repo, core, clock)
    assert f"kubectl -n speckit-pods delete pod {POD}" in caplog.text
    assert f"kubectl -n speckit-pods delete configmap {CM}" in caplog.text


def test_concurrent_spawn_losing_the_create_race(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore()
    core.fail["create_namespaced_pod"] = api_exception(409, "Conflict")
    with pytest.raises(AlreadyRunningError, match="already exists"):
        run(repo, core, clock)
    assert not core.configmaps and writes(core)[-1] == ("delete_namespaced_config_map", CM)


QUOTA_REFUSAL = (
    f'pods "{POD}" is forbidden: exceeded quota: speckit-pods, requested: pods=1, '
    "used: pods=3, limited: pods=3"
)


def test_a_pod_the_quota_refuses_is_a_quota_error_and_leaves_nothing(
    repo: Path, clock: SpawnClock
) -> None:
    core = SpawnCore()
    core.fail["create_namespaced_pod"] = api_exception(403, "Forbidden", QUOTA_REFUSAL)
    with pytest.raises(QuotaExceededError) as info:
        run(repo, core, clock)
    assert ("delete_namespaced_config_map", CM) in core.calls
    err = info.value
    assert err.exit_code == ExitCode.QUOTA_EXCEEDED
    assert int(err.exit_code) == 19
    assert (err.quota, err.resources, err.reason) == (
        "speckit-pods",
        ("pods",),
        "quota speckit-pods full (pods)",
    )
    assert "\n" not in err.message and "refused by quota speckit-pods" in err.message
    assert "pods (requested 1, used 3, limit 3)" in err.message
    assert "describe resourcequota speckit-pods" in err.hint and "--max-parallel" in err.hint
    assert not core.pods and not core.configmaps


def test_a_configmap_the_quota_refuses_creates_nothing(repo: Path, clock: SpawnClock) -> None:
    refused = QUOTA_REFUSAL.replace(f'pods "{POD}"', "configmaps").replace("pods=", "configmaps=")
    core = SpawnCore()
    core.fail["create_namespaced_config_map"] = api_exception(403, "Forbidden", refused)
    with pytest.raises(QuotaExceededError) as info:
        run(repo, core, clock)
    assert info.value.resources == ("configmaps",)
    assert not core.pods and not core.configmaps
    assert ("create_namespaced_pod", POD) not in core.calls


def test_an_rbac_denial_stays_an_api_error(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore()
    core.fail["create_namespaced_pod"] = api_exception(
        403, "Forbidden", 'pods is forbidden: User "bob" cannot create resource "pods"'
    )
    with pytest.raises(KubeApiError) as info:
        run(repo, core, clock)
    assert not isinstance(info.value, QuotaExceededError) and info.value.exit_code == 24


def test_missing_namespace_says_to_install_the_manifests(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore(namespace="elsewhere")
    with pytest.raises(KubeApiError) as info:
        run(repo, core, clock)
    assert "kubectl apply -k manifests/" in info.value.hint


def test_expired_kept_pods_are_swept_first(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore()
    past = (clock.at - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (clock.at + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    other = {labels.MANAGED_BY: "speckit-pods", labels.TASK: "T099", labels.FEATURE: "f"}
    core.add(spawn_pod("expired", "Failed", other, {labels.EXPIRES_AT: past}))
    core.add(spawn_pod("kept", "Failed", other, {labels.EXPIRES_AT: future}))
    core.add(spawn_pod("busy", "Running", other, {labels.EXPIRES_AT: past}))
    assert run(repo, core, clock)[0] == 0
    assert set(core.pods) == {"kept", "busy", POD}


def test_a_failing_sweep_does_not_stop_the_spawn(
    repo: Path, clock: SpawnClock, caplog: pytest.LogCaptureFixture
) -> None:
    core = SpawnCore()
    core.fail["list_namespaced_pod"] = api_exception(500, "Internal")
    core.fail["list_namespaced_config_map_metadata"] = api_exception(403, "Forbidden")
    assert run(repo, core, clock) == (0, [POD])
    assert "could not sweep expired pods" in caplog.text
    assert "could not sweep orphaned configmaps" in caplog.text


def test_an_orphaned_configmap_of_another_task_is_swept_first(
    repo: Path, clock: SpawnClock
) -> None:
    core = SpawnCore()
    old = (clock.at - datetime.timedelta(minutes=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    young = (clock.at - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    other = {**TASK_LABELS, labels.COMPONENT: "agent", labels.TASK: "T099"}
    for name, created in (("sp-orphan-task", old), ("sp-in-flight-task", young)):
        meta = {"name": name, "uid": f"cm-{name}", "labels": other, "creationTimestamp": created}
        core.configmaps[name] = {"metadata": meta}
    assert run(repo, core, clock)[0] == 0
    assert set(core.configmaps) == {"sp-in-flight-task", CM}
    listed = core.calls.index(("list_namespaced_config_map_metadata", TASK_CONFIGMAPS))
    assert listed < core.calls.index(("create_namespaced_config_map", CM))


def test_a_terminating_pod_of_the_same_name_is_waited_for(repo: Path, clock: SpawnClock) -> None:
    core = SpawnCore(graceful_reads=2)
    core.add(spawn_pod(POD, "Running", TASK_LABELS))
    core.delete_namespaced_pod(POD, "speckit-pods")  # someone else deleted it just now
    assert run(repo, core, clock) == (0, [POD])
    assert clock.slept and core.pods[POD]["metadata"]["uid"] == "uid-1"
