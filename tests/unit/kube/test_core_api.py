"""``JsonCoreApi`` against a local HTTP server: what goes on the wire, what comes back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import Watch

from runtime.kube.core_api import JsonCoreApi
from tests.unit.fake_api_server import Answer, FakeApiServer, serving

POD = {"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "7"}}


Answers = dict[str, Answer]  # path -> answer; anything else gets 200 {}


@pytest.fixture
def answers() -> Answers:
    return {}


@pytest.fixture
def server(answers: Answers) -> Iterator[FakeApiServer]:
    with serving(lambda request: answers.get(request.path, Answer(200, b"{}"))) as srv:
        yield srv


@pytest.fixture
def api(server: FakeApiServer) -> JsonCoreApi:
    config = client.Configuration()
    config.host = server.url
    config.api_key = {"authorization": "t0ken"}
    config.api_key_prefix = {"authorization": "Bearer"}
    return JsonCoreApi(client.ApiClient(config))


def test_reads_answer_dicts_with_camel_case_query_and_the_bearer_token(
    server: FakeApiServer, answers: Answers, api: JsonCoreApi
) -> None:
    answers["/api/v1/namespaces/ns/pods"] = Answer(200, b'{"items": []}', "application/json")
    assert api.list_namespaced_pod("ns", label_selector="a=b", watch=False) == {"items": []}
    assert server.seen[0].query == {"labelSelector": "a=b", "watch": "false"}
    assert server.seen[0].header("Authorization") == "Bearer t0ken"


def test_patch_is_a_json_merge_patch(
    server: FakeApiServer, answers: Answers, api: JsonCoreApi
) -> None:
    patch = {"metadata": {"annotations": {"x": "1"}}}
    api.patch_namespaced_pod("p", "ns", patch)
    assert server.seen[0].method == "PATCH"
    assert server.seen[0].header("Content-Type") == "application/merge-patch+json"
    assert server.seen[0].body == patch


def test_errors_are_the_clients_api_exception(
    server: FakeApiServer, answers: Answers, api: JsonCoreApi
) -> None:
    body = b'{"kind": "Status", "code": 404, "message": "pods \\"p\\" not found"}'
    answers["/api/v1/namespaces/ns/pods/p"] = Answer(404, body, "application/json")
    with pytest.raises(ApiException) as info:
        api.read_namespaced_pod("p", "ns")
    assert info.value.status == 404 and "not found" in str(info.value.body)


def test_logs_as_text_or_as_a_stream(
    server: FakeApiServer, answers: Answers, api: JsonCoreApi
) -> None:
    answers["/api/v1/namespaces/ns/pods/p/log"] = Answer(200, b"one\ntwo\n", "text/plain")
    assert api.read_namespaced_pod_log("p", "ns", tail_lines=2) == "one\ntwo\n"
    stream = api.read_namespaced_pod_log("p", "ns", follow=True, _preload_content=False)
    assert b"".join(stream.stream(4)) == b"one\ntwo\n"
    assert server.seen[1].query == {"follow": "true"}
    # the API server answers 406 to ``Accept: text/plain``, even for logs
    assert {seen.header("Accept") for seen in server.seen} == {"application/json"}


def test_the_official_watch_streams_events_as_dicts(
    server: FakeApiServer, answers: Answers, api: JsonCoreApi
) -> None:
    events = [{"type": "ADDED", "object": POD}, {"type": "DELETED", "object": POD}]
    body = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    answers["/api/v1/namespaces/ns/pods"] = Answer(200, body, "application/json")
    watch = Watch()  # type: ignore[no-untyped-call]
    got = list(watch.stream(api.list_namespaced_pod, "ns", timeout_seconds=5))  # type: ignore[no-untyped-call]
    assert [(e["type"], e["object"]) for e in got] == [("ADDED", POD), ("DELETED", POD)]
    assert server.seen[0].query == {"watch": "true", "timeoutSeconds": "5"}


def test_configmap_metadata_list_asks_for_metadata_only(
    server: FakeApiServer, answers: Answers, api: JsonCoreApi
) -> None:
    items = {"kind": "PartialObjectMetadataList", "items": [{"metadata": {"name": "c"}}]}
    answers["/api/v1/namespaces/ns/configmaps"] = Answer.json(200, items)
    assert api.list_namespaced_config_map_metadata("ns", label_selector="a=b") == items
    seen = server.seen[0]
    assert (seen.method, seen.query) == ("GET", {"labelSelector": "a=b"})
    assert seen.header("Accept") == (
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    )


def test_configmap_owner_patch_and_a_delete_with_a_precondition(
    server: FakeApiServer, answers: Answers, api: JsonCoreApi
) -> None:
    patch = {"metadata": {"ownerReferences": [{"uid": "u"}], "resourceVersion": "3"}}
    api.patch_namespaced_config_map("c", "ns", patch)
    api.delete_namespaced_config_map("c", "ns", body={"preconditions": {"uid": "x"}})
    api.delete_namespaced_config_map("c", "ns")
    patched, deleted, plain = server.seen
    assert (patched.method, patched.path) == ("PATCH", "/api/v1/namespaces/ns/configmaps/c")
    assert patched.header("Content-Type") == "application/merge-patch+json"
    assert patched.body == patch
    assert (deleted.method, deleted.body) == ("DELETE", {"preconditions": {"uid": "x"}})
    assert deleted.header("Content-Type") == "application/json"
    assert (plain.method, plain.body) == ("DELETE", None)
