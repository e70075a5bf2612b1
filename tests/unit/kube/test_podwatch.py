from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from runtime.errors import KubeApiError, PodStuckError, StillRunningError
from runtime.kube.client import Kube
from runtime.kube.pod import has_started, is_finished
from runtime.kube.podwatch import ClusterPods, Deadline, StuckPolicy, diagnose, wait_for
from tests.unit.fakes import (
    FakeClock,
    FakeClusterCore,
    FakeWatch,
    exited,
    make_pod,
    running,
    waiting,
)

POLICY = StuckPolicy(image_pull_s=60, missing_config_s=30, unschedulable_s=300)


def setup(
    batches: list[object], pod: dict[str, object] | None
) -> tuple[ClusterPods, FakeWatch, FakeClock]:
    core, clock = FakeClusterCore(), FakeClock()
    if pod is not None:
        core.add(pod)
    watch = FakeWatch(core, clock, batches)
    return ClusterPods(Kube(core=core, namespace="ns"), watch_factory=watch), watch, clock


def pending(container: dict[str, object] | None = None, **kw: object) -> dict[str, object]:
    return make_pod("p", phase="Pending", container=container, **kw)  # type: ignore[arg-type]


# --- diagnose ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod", "events", "key", "text", "fatal_after"),
    [
        (
            pending(waiting("ErrImagePull", "not found")),
            [],
            "image-pull",
            "cannot pull image agent:1",
            60,
        ),
        (
            pending(waiting("ImagePullBackOff", "Back-off")),
            [],
            "image-pull",
            "ImagePullBackOff",
            60,
        ),
        (pending(waiting("ErrImageNeverPull", "policy Never")), [], "image", "cannot be used", 0),
        (
            pending(waiting("CreateContainerConfigError", 'secret "speckit-pods-llm" not found')),
            [],
            "config:missing secret 'speckit-pods-llm'",
            "missing secret 'speckit-pods-llm'",
            30,
        ),
        (
            pending(waiting("ContainerCreating")),
            [
                {"type": "Normal", "reason": "Scheduled", "message": "assigned"},
                {
                    "type": "Warning",
                    "reason": "FailedMount",
                    "message": 'MountVolume.SetUp failed for volume "git" : '
                    'secret "speckit-pods-git" not found',
                },
            ],
            "config:missing secret 'speckit-pods-git'",
            "missing secret 'speckit-pods-git'",
            30,
        ),
        (
            pending(
                conditions=[
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/1 nodes are available: 1 Insufficient memory.",
                    }
                ]
            ),
            [],
            "unschedulable",
            "unschedulable: 0/1 nodes are available: 1 Insufficient memory.",
            300,
        ),
    ],
)
def test_diagnose(
    pod: dict[str, object], events: list[dict[str, object]], key: str, text: str, fatal_after: float
) -> None:
    found = diagnose(pod, events, POLICY)
    assert found is not None
    assert found.key == key
    assert text in found.message
    assert found.fatal_after == fatal_after
    assert found.hint


def test_missing_secret_hint_names_namespace_and_secret() -> None:
    pod = pending(waiting("CreateContainerConfigError", 'secret "llm" not found'))
    found = diagnose(pod, [], POLICY)
    assert found is not None and "kubectl -n ns create secret generic llm" in found.hint


def test_nothing_wrong_while_creating() -> None:
    assert diagnose(pending(waiting("ContainerCreating")), [], POLICY) is None
    assert diagnose(pending(), [], POLICY) is None


# --- wait_for ------------------------------------------------------------------------


def test_checks_first_and_does_not_watch_when_already_started() -> None:
    pods, watch, clock = setup([], make_pod("p", container=running()))
    waited = wait_for(pods, "p", has_started, deadline=Deadline(None, clock), report=print)
    assert not waited.deleted and watch.calls == []


def test_watches_with_field_selector_and_resource_version_until_started() -> None:
    pods, watch, clock = setup(
        [
            [
                ("MODIFIED", pending(waiting("ContainerCreating"))),
                ("MODIFIED", make_pod("p", container=running())),
            ]
        ],
        pending(),
    )
    notes: list[str] = []
    waited = wait_for(pods, "p", has_started, deadline=Deadline(None, clock), report=notes.append)
    assert has_started(waited.pod)
    assert watch.calls[0]["field_selector"] == "metadata.name=p"
    assert watch.calls[0]["resource_version"] == "1"
    assert 1 <= watch.calls[0]["timeout_seconds"] <= 30
    assert notes == [] and watch.stopped == 1


def test_reports_each_reason_once_when_it_changes() -> None:
    pull = pending(waiting("ErrImagePull", "x"))
    backoff = pending(waiting("ImagePullBackOff", "y"))
    secret = pending(waiting("CreateContainerConfigError", 'secret "s" not found'))
    pods, _, clock = setup(
        [
            [("MODIFIED", backoff), ("MODIFIED", pull), ("MODIFIED", secret), ("MODIFIED", secret)],
            [("MODIFIED", make_pod("p", container=running()))],
        ],
        pull,
    )
    notes: list[str] = []
    wait_for(
        pods, "p", has_started, deadline=Deadline(None, clock), report=notes.append, policy=POLICY
    )
    # ErrImagePull <-> ImagePullBackOff is one reason; the secret is a new one
    assert len(notes) == 2
    assert "cannot pull image" in notes[0] and "missing secret 's'" in notes[1]


def test_image_pull_is_fatal_after_the_grace_period() -> None:
    pods, watch, clock = setup([], pending(waiting("ImagePullBackOff", "Back-off pulling")))
    with pytest.raises(PodStuckError) as err:
        wait_for(
            pods, "p", has_started, deadline=Deadline(None, clock), report=print, policy=POLICY
        )
    assert err.value.exit_code == 25
    assert "cannot pull image" in err.value.message and "SPECKIT_PODS_IMAGE" in err.value.hint
    # the watch timeout is cut to the grace period: no 30 s overshoot, re-listed on expiry
    assert sum(call["timeout_seconds"] for call in watch.calls) == 60


def test_never_pullable_image_fails_at_once() -> None:
    pods, watch, clock = setup([], pending(waiting("ErrImageNeverPull", "")))
    with pytest.raises(PodStuckError):
        wait_for(pods, "p", has_started, deadline=Deadline(None, clock), report=print)
    assert watch.calls == []


def test_missing_secret_is_fatal_after_its_grace() -> None:
    pods, _, clock = setup(
        [], pending(waiting("CreateContainerConfigError", 'secret "s" not found'))
    )
    start = clock.now
    with pytest.raises(PodStuckError, match="missing secret 's'"):
        wait_for(
            pods, "p", has_started, deadline=Deadline(None, clock), report=print, policy=POLICY
        )
    assert clock.now - start == 30


def test_secret_created_in_time_lets_the_pod_start() -> None:
    stuck = pending(waiting("CreateContainerConfigError", 'secret "s" not found'))
    pods, _, clock = setup([[], [("MODIFIED", make_pod("p", container=running()))]], stuck)
    policy = StuckPolicy(missing_config_s=100)
    waited = wait_for(
        pods, "p", has_started, deadline=Deadline(None, clock), report=print, policy=policy
    )
    assert has_started(waited.pod)


def test_deadline_raises_still_running() -> None:
    pods, _, clock = setup([], make_pod("p", container=running()))
    with pytest.raises(StillRunningError) as err:
        wait_for(pods, "p", is_finished, deadline=Deadline.after(45, clock), report=print)
    assert err.value.exit_code == 27


def test_deleted_pod_is_returned_as_deleted() -> None:
    pods, _, clock = setup(
        [[("DELETED", make_pod("p", container=running()))]], make_pod("p", container=running())
    )
    waited = wait_for(pods, "p", is_finished, deadline=Deadline(None, clock), report=print)
    assert waited.deleted and waited.pod["metadata"]["name"] == "p"


def test_missing_pod_is_deleted() -> None:
    pods, _, clock = setup([], None)
    assert wait_for(pods, "p", is_finished, deadline=Deadline(None, clock), report=print).deleted


def test_watch_errors_are_retried_with_backoff_and_410_without() -> None:
    pods, watch, clock = setup(
        [
            ApiException(status=410, reason="Gone"),
            ApiException(status=500),
            [("MODIFIED", make_pod("p", container=exited(0)))],
        ],
        make_pod("p", container=running()),
    )
    waited = wait_for(
        pods, "p", is_finished, deadline=Deadline(None, clock), report=print, sleep=clock.sleep
    )
    assert is_finished(waited.pod)
    assert clock.slept == [2.0]


def test_forbidden_watch_is_an_api_error() -> None:
    pods, _, clock = setup(
        [ApiException(status=403, reason="Forbidden")], make_pod("p", container=running())
    )
    with pytest.raises(KubeApiError):
        wait_for(pods, "p", is_finished, deadline=Deadline(None, clock), report=print)
