from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from runtime.contract.cost import Price
from runtime.errors import InvalidInputError
from runtime.kube import labels
from runtime.spawn import manifests, names
from runtime.spawn.context import ContextFile
from tests.support.tools import require_tool

GOLDEN = Path(__file__).parent / "golden"
K8S_VERSION = "1.34.0"
GIT_ENV = {
    "TASK_ID", "TASK_TITLE", "REPO_URL", "BASE_BRANCH", "TASK_BRANCH", "TASK_DIR", "WORKSPACE",
    "CLONE_GIT_DIR", "HANDOFF_DIR", "HOME", "GIT_CREDENTIALS_DIR", "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL", "REQUESTED_BY", "LLM_USAGE_DIR", "FEATURE", "CHECKPOINT_SECONDS",
}  # fmt: skip
AGENT_ENV = {
    "TASK_ID", "TASK_TITLE", "MODEL", "TASK_DIR", "WORKSPACE", "HANDOFF_DIR", "HOME",
    "AGENT_DEADLINE_SECONDS", "AGENT_STALL_SECONDS", "AGENT_SETUP_SECONDS", "OPENCODE_CONFIG",
    "SPECKIT_LLM_PROXY_URL",
    "OPENCODE_DISABLE_PROJECT_CONFIG", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0",
}  # fmt: skip


def spec(**changes: Any) -> manifests.PodSpecInput:
    base = manifests.PodSpecInput(
        name=names.pod_name("001-photo-albums", "T012"),
        namespace="speckit-pods",
        run_id="20261125t120000-abc123",
        task_id="T012",
        task_title="Create the Album model in src/models/album.py",
        task_label="T012",
        feature_label="001-photo-albums",
        feature="001-photo-albums",
        repo_url="https://git.example.com/acme/photos.git",
        branch="specs/001-photo-albums/T012-async",
        base="main",
        tasks_file="/home/ada/photos/specs/001-photo-albums/tasks.md",
        prompt="# Task T012: Create the Album model\n\nDo it.\n",
        context=(
            ContextFile("spec.md", "ctx.0", b"# Spec\n"),
            ContextFile("contracts/api.yaml", "ctx.1", b"openapi: 3.0.3\n"),
            ContextFile("contracts/logo.png", "ctx.2", b"\x89PNG\r\n"),
        ),
        created_at=datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC),
        timeout_s=7200,
        model="anthropic/claude-sonnet-4-5",
        requested_by="Ada Lovelace <ada@example.com>",
    )
    return dataclasses.replace(base, **changes)


def validate(obj: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:  # the full message is pages long
        pytest.fail(f"{obj['kind']} is not valid for Kubernetes {K8S_VERSION}: {err.message}")


def agent_of(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["spec"]["containers"]
    assert container["name"] == "agent"
    return dict(container)


def git_of(pod: dict[str, Any]) -> dict[str, Any]:
    proxy, git = pod["spec"]["initContainers"]
    assert (proxy["name"], git["name"]) == ("llm-proxy", "git")  # the proxy starts first
    return dict(git)


def proxy_of(pod: dict[str, Any]) -> dict[str, Any]:
    proxy, _git = pod["spec"]["initContainers"]
    assert proxy["name"] == "llm-proxy"
    return dict(proxy)


def all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]


def env_of(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in agent_of(pod)["env"]}


def git_env_of(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in git_of(pod)["env"]}


# --- golden files ----------------------------------------------------------------------


def test_rendered_manifests_match_the_golden_file() -> None:
    the_spec = spec()
    text = manifests.to_yaml(
        [manifests.render_pod(the_spec), manifests.render_configmap(the_spec, "uid-1")]
    )
    golden = GOLDEN / "spawn-T012.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), "run with UPDATE_GOLDEN=1 and review"


def test_golden_file_is_valid_kubernetes() -> None:
    docs = list(yaml.safe_load_all((GOLDEN / "spawn-T012.yaml").read_text(encoding="utf-8")))
    assert [d["kind"] for d in docs] == ["Pod", "ConfigMap"]
    for doc in docs:
        validate(doc)


# --- schema and contract ---------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"model": "", "requested_by": "", "context": ()},
        {"timeout_s": 10, "resources": manifests.resources_with_limits("500m", "512Mi")},
    ],
)
def test_pod_and_configmap_validate_against_the_schema(changes: dict[str, Any]) -> None:
    the_spec = spec(**changes)
    validate(manifests.render_pod(the_spec))
    validate(manifests.render_configmap(the_spec))
    validate(manifests.render_configmap(the_spec, "0d7c7a3c-1b4e-4f7e-9c36-1f6d5f0b7a10"))


def test_pod_meets_pod_security_restricted() -> None:
    pod = manifests.render_pod(spec())["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in [*pod["initContainers"], *pod["containers"]]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True
    allowed = {"configMap", "emptyDir", "secret", "name"}  # restricted allows these types
    assert all(set(v) <= allowed for v in pod["volumes"])
    assert "hostNetwork" not in pod and "hostPID" not in pod
    assert "shareProcessNamespace" not in pod  # no agent process outlives its container


def test_git_is_a_native_sidecar_holding_the_agent_until_the_clone_is_ready() -> None:
    pod = manifests.render_pod(spec())
    git, agent = git_of(pod), agent_of(pod)
    assert git["restartPolicy"] == "Always"  # a sidecar: SIGTERM only after the agent exited
    assert git["args"] == ["git-side"] and agent["args"] == ["run"]
    assert git["image"] == agent["image"]
    probe = git["startupProbe"]
    assert probe["exec"]["command"] == ["test", "-e", "/handoff/ready"]
    assert probe["periodSeconds"] == 1
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 600  # the clone's own timeout
    assert "lifecycle" not in git  # a preStop hook would run at the agent's SIGTERM
    assert pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "git"


def test_a_toolchain_image_is_the_agent_containers_only() -> None:
    """A repository's image never runs the trusted side: git and llm-proxy keep ours."""
    ours, theirs = "registry.example/speckit-pods-agent:0.1.0", "registry.example/app-tools:3"
    pod = manifests.render_pod(spec(image=ours, toolchain_image=theirs))
    assert agent_of(pod)["image"] == theirs
    assert git_of(pod)["image"] == proxy_of(pod)["image"] == ours
    assert theirs not in json.dumps([git_of(pod), proxy_of(pod)])
    assert agent_of(pod)["args"] == ["run"]  # its entrypoint is ours: FROM the agent image
    validate(pod)
    plain = manifests.render_pod(spec(image=ours))
    assert {c["image"] for c in [*plain["spec"]["initContainers"], agent_of(plain)]} == {ours}


def test_the_setup_limit_is_the_agent_containers() -> None:
    pod = manifests.render_pod(spec(setup_s=1200))
    agent_env = {e["name"]: e["value"] for e in agent_of(pod)["env"]}
    assert agent_env["AGENT_SETUP_SECONDS"] == "1200"
    assert "AGENT_SETUP_SECONDS" not in json.dumps([git_of(pod), proxy_of(pod)])


def test_the_sides_run_as_different_users() -> None:
    pod = manifests.render_pod(spec())
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001  # the agent
    git = git_of(pod)["securityContext"]
    assert (git["runAsUser"], git["runAsGroup"]) == (10002, 10001)
    proxy = proxy_of(pod)["securityContext"]
    assert proxy["runAsUser"] == 10003 and proxy["runAsGroup"] == 10003
    assert "runAsUser" not in agent_of(pod)["securityContext"]


def test_the_token_budget_is_the_proxys_env_only() -> None:
    pod = manifests.render_pod(spec(max_tokens=987654))
    proxy_env = {e["name"]: e["value"] for e in proxy_of(pod)["env"]}
    assert proxy_env["LLM_TOKEN_BUDGET"] == "987654"
    others = [git_of(pod), agent_of(pod)]
    assert not [e for c in others for e in c["env"] if e["name"] == "LLM_TOKEN_BUDGET"]
    assert "987654" not in json.dumps(others)
    unlimited = manifests.render_pod(spec())
    assert "LLM_TOKEN_BUDGET" not in json.dumps(unlimited)  # no budget: no variable at all


def test_the_price_and_the_cost_budget_are_the_proxys_env_only() -> None:
    price, budget = Price.parse("0.150/0.60"), Decimal("0.50")
    pod = manifests.render_pod(spec(llm_price=price, max_cost=budget, max_tokens=9000))
    proxy_env = {e["name"]: e["value"] for e in proxy_of(pod)["env"]}
    assert proxy_env["LLM_PRICE_PER_MTOK"] == "0.15/0.6"  # what the proxy's parser reads
    assert proxy_env["LLM_COST_BUDGET"] == "0.5"
    assert proxy_env["LLM_TOKEN_BUDGET"] == "9000"
    others = [git_of(pod), agent_of(pod), *pod["spec"].get("initContainers", [])]
    others = [c for c in others if c["name"] != "llm-proxy"]
    assert {c["name"] for c in others} == {"git", "agent"}
    names_elsewhere = {e["name"] for c in others for e in c.get("env", [])}
    assert not names_elsewhere & {"LLM_PRICE_PER_MTOK", "LLM_COST_BUDGET", "LLM_TOKEN_BUDGET"}
    assert "0.15/0.6" not in json.dumps(others)
    unpriced = json.dumps(manifests.render_pod(spec()))
    assert "LLM_PRICE_PER_MTOK" not in unpriced and "LLM_COST_BUDGET" not in unpriced


def test_only_the_git_side_holds_the_git_secret_only_the_proxy_the_llm_keys() -> None:
    pod = manifests.render_pod(spec())
    git, agent, proxy = git_of(pod), agent_of(pod), proxy_of(pod)
    agent_mounts = {m["name"] for m in agent["volumeMounts"]}
    git_mounts = {m["name"] for m in git["volumeMounts"]}
    assert "git-credentials" in git_mounts and "git-credentials" not in agent_mounts
    assert "envFrom" not in git and "envFrom" not in agent
    assert proxy["envFrom"] == [{"secretRef": {"name": "speckit-pods-llm", "optional": True}}]
    # no container but the proxy can reach a Secret: not by env, not by a volume
    secret_volumes = {v["name"] for v in pod["spec"]["volumes"] if "secret" in v}
    assert not secret_volumes & agent_mounts
    assert {m["name"] for m in proxy["volumeMounts"]} == {"llm-usage"}
    for container in all_containers(pod):
        assert all("valueFrom" not in e for e in container.get("env", []))
    # the proxy's counts are for the git side's result line, not the agent's to edit
    assert "llm-usage" in git_mounts and "llm-usage" not in agent_mounts
    assert env_of(pod)["SPECKIT_LLM_PROXY_URL"] == "http://127.0.0.1:4141"
    assert "REPO_URL" not in env_of(pod) and "GIT_CREDENTIALS_DIR" not in env_of(pod)
    # the agent's HOME and /tmp are not the git side's, and the git side's HOME is its own
    assert not {"git-home", "git-tmp"} & agent_mounts
    assert not {"agent-home", "agent-tmp", "opencode"} & git_mounts


def test_the_proxy_is_a_native_sidecar_started_first_without_a_probe() -> None:
    proxy = proxy_of(manifests.render_pod(spec()))
    assert proxy["restartPolicy"] == "Always" and proxy["args"] == ["llm-proxy"]
    assert "startupProbe" not in proxy  # costs the pod no start time: listening long before
    assert proxy["resources"]["limits"]["memory"] and proxy["resources"]["limits"]["cpu"]


def test_pod_is_a_bare_never_restarting_pod_without_api_token() -> None:
    pod = manifests.render_pod(spec())
    assert pod["kind"] == "Pod" and "ownerReferences" not in pod["metadata"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 60
    assert pod["spec"]["serviceAccountName"] == "speckit-pods-agent"
    assert pod["spec"]["automountServiceAccountToken"] is False
    for container in all_containers(pod):
        assert container["imagePullPolicy"] == "IfNotPresent"


def test_labels_and_annotations() -> None:
    pod = manifests.render_pod(spec())
    meta = pod["metadata"]
    assert meta["labels"] == {
        labels.MANAGED_BY: "speckit-pods",
        labels.COMPONENT: "agent",
        labels.TASK: "T012",
        labels.FEATURE: "001-photo-albums",
        labels.REPO_ID: names.repo_id("https://git.example.com/acme/photos.git"),
        labels.RUN: "20261125t120000-abc123",
    }
    assert all(names.is_label_value(v) for v in meta["labels"].values())
    ann = meta["annotations"]
    assert ann[labels.REPO] == "https://git.example.com/acme/photos.git"
    assert ann[labels.BRANCH] == "specs/001-photo-albums/T012-async"
    assert ann[labels.BASE] == "main"
    assert ann[labels.TASK_TITLE].startswith("Create the Album model")
    assert ann[labels.CLEANUP] == "on-success"
    assert ann[labels.TASKS_FILE].endswith("tasks.md")
    # deadline (7200 + 60) plus keep-for (24h) after creation
    assert ann[labels.EXPIRES_AT] == "2026-11-26T14:01:00Z"


def test_env_carries_the_whole_contract() -> None:
    pod = manifests.render_pod(spec())
    env, git = env_of(pod), git_env_of(pod)
    assert set(env) == AGENT_ENV
    assert set(git) == GIT_ENV
    assert env["TASK_DIR"] == git["TASK_DIR"] == "/etc/speckit-pods/task"
    assert env["WORKSPACE"] == git["WORKSPACE"] == "/workspace"
    assert env["HANDOFF_DIR"] == git["HANDOFF_DIR"] == "/handoff"
    assert (env["HOME"], git["HOME"]) == ("/home/agent", "/home/git")
    assert git["CLONE_GIT_DIR"] == "/workspace/repo/.git"
    assert git["GIT_CREDENTIALS_DIR"] == "/var/run/secrets/speckit-pods/git"
    assert env["OPENCODE_CONFIG"] == "/etc/speckit-pods/opencode/opencode.json"
    assert env["OPENCODE_DISABLE_PROJECT_CONFIG"] == "1"
    assert (env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_VALUE_0"]) == ("safe.directory", "*")
    assert env["MODEL"] == "anthropic/claude-sonnet-4-5"
    assert git["REQUESTED_BY"] == "Ada Lovelace <ada@example.com>"


def test_the_checkpoint_interval_is_the_git_sides_env_only() -> None:
    assert git_env_of(manifests.render_pod(spec()))["CHECKPOINT_SECONDS"] == "180"
    assert git_env_of(manifests.render_pod(spec(checkpoint_s=5)))["CHECKPOINT_SECONDS"] == "5"
    assert git_env_of(manifests.render_pod(spec(checkpoint_s=0)))["CHECKPOINT_SECONDS"] == "0"
    assert "CHECKPOINT_SECONDS" not in env_of(manifests.render_pod(spec(checkpoint_s=5)))
    integration = git_env_of(manifests.render_pod(spec(integrate=True)))
    assert "CHECKPOINT_SECONDS" not in integration  # nothing of its work tree is kept


def test_a_lost_node_evicts_the_pod_in_seconds_not_five_minutes() -> None:
    """Without these, DefaultTolerationSeconds adds 300 s for both taints."""
    tolerations = manifests.render_pod(spec())["spec"]["tolerations"]
    assert tolerations == [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 20}
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
    ]


def test_optional_env_is_left_out_when_empty() -> None:
    pod = manifests.render_pod(spec(model="", requested_by=""))
    assert "MODEL" not in env_of(pod) and "REQUESTED_BY" not in git_env_of(pod)
    assert "ALLOW_INSECURE_HTTP" not in git_env_of(pod)


def test_cleartext_http_needs_an_explicit_opt_in() -> None:
    pod = manifests.render_pod(spec(repo_url="http://gitea:3000/a/b.git", allow_insecure_http=True))
    assert git_env_of(pod)["ALLOW_INSECURE_HTTP"] == "1"
    proxy_env = {e["name"]: e["value"] for e in proxy_of(pod)["env"]}
    assert proxy_env["ALLOW_INSECURE_HTTP"] == "1"  # the LLM key over http://, too
    assert "ALLOW_INSECURE_HTTP" not in env_of(pod)
    validate(pod)
    secure = manifests.render_pod(spec())
    assert "ALLOW_INSECURE_HTTP" not in {e["name"] for e in proxy_of(secure)["env"]}


@pytest.mark.parametrize("timeout", [10, 60, 300, 7200, 86400])
def test_agent_deadline_is_before_the_timeout_and_the_pod_deadline_after(timeout: int) -> None:
    pod = manifests.render_pod(spec(timeout_s=timeout))
    agent = int(env_of(pod)["AGENT_DEADLINE_SECONDS"])
    assert 0 < agent < timeout < pod["spec"]["activeDeadlineSeconds"]
    assert pod["spec"]["activeDeadlineSeconds"] - timeout <= 60


def test_mounts_match_the_contract() -> None:
    pod = manifests.render_pod(spec())
    mounts = {m["mountPath"]: m for m in agent_of(pod)["volumeMounts"]}
    assert set(mounts) == {
        "/workspace/repo",
        "/workspace/repo/.git",
        "/handoff",
        "/home/agent",
        "/tmp",
        "/etc/speckit-pods/task",
        "/etc/speckit-pods/opencode",
    }
    writable = {p for p, m in mounts.items() if not m.get("readOnly")}
    assert writable == {"/workspace/repo", "/handoff", "/home/agent", "/tmp"}  # not its .git
    git_mounts = {m["mountPath"]: m for m in git_of(pod)["volumeMounts"]}
    assert set(git_mounts) == {
        "/workspace/repo",
        "/workspace/repo/.git",
        "/handoff",
        "/home/git",
        "/tmp",
        "/etc/speckit-pods/task",
        "/var/run/secrets/speckit-pods/git",
        "/var/run/speckit-pods/llm",
    }
    git_writable = {p for p, m in git_mounts.items() if not m.get("readOnly")}
    assert git_writable == {
        "/workspace/repo",
        "/workspace/repo/.git",
        "/handoff",
        "/home/git",
        "/tmp",
    }
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert all(v["emptyDir"].get("sizeLimit") for v in volumes.values() if "emptyDir" in v)
    for container in all_containers(pod):
        assert container["resources"]["limits"]["ephemeral-storage"]
    assert volumes["git-credentials"]["secret"] == {
        "secretName": "speckit-pods-git",
        "defaultMode": 0o440,
    }
    assert volumes["opencode"]["configMap"]["name"] == "speckit-pods-agent-config"


def test_task_volume_restores_the_context_tree() -> None:
    the_spec = spec()
    volumes = {v["name"]: v for v in manifests.render_pod(the_spec)["spec"]["volumes"]}
    task = volumes["task"]["configMap"]
    assert task["name"] == names.configmap_name(the_spec.name, the_spec.run_id)
    assert task["items"] == [
        {"key": "prompt.md", "path": "prompt.md"},
        {"key": "ctx.0", "path": "context/spec.md"},
        {"key": "ctx.1", "path": "context/contracts/api.yaml"},
        {"key": "ctx.2", "path": "context/contracts/logo.png"},
    ]
    cm = manifests.render_configmap(the_spec)
    keys = set(cm["data"]) | set(cm.get("binaryData", {}))
    assert {i["key"] for i in task["items"]} == keys
    assert cm["binaryData"] == {"ctx.2": "iVBORw0K"}
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", k) for k in keys)


def test_configmap_owner_reference_points_at_the_pod() -> None:
    the_spec = spec()
    cm = manifests.render_configmap(the_spec, "uid-42")
    assert cm["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": the_spec.name, "uid": "uid-42"}
    ]
    assert "ownerReferences" not in manifests.render_configmap(the_spec)["metadata"]
    assert cm["metadata"]["labels"] == manifests.render_pod(the_spec)["metadata"]["labels"]


# --- resources ------------------------------------------------------------------------


def test_default_resources_fit_opencode() -> None:
    res = manifests.Resources()
    assert manifests.memory_bytes(res.memory_request) >= 700 * 1024 * 1024
    assert manifests.memory_bytes(res.memory_limit) >= manifests.memory_bytes(res.memory_request)


def test_limits_below_the_default_request_lower_the_request() -> None:
    res = manifests.resources_with_limits(cpu="100m", memory="512Mi")
    assert (res.cpu_request, res.cpu_limit) == ("100m", "100m")
    assert (res.memory_request, res.memory_limit) == ("512Mi", "512Mi")
    res = manifests.resources_with_limits(cpu="4", memory="8Gi")
    assert (res.cpu_request, res.memory_request) == ("250m", "768Mi")


@pytest.mark.parametrize("cpu", ["two", "1.5x", "-1", ""])
def test_invalid_cpu_is_an_input_error(cpu: str) -> None:
    with pytest.raises(InvalidInputError):
        manifests.resources_with_limits(cpu=cpu)


@pytest.mark.parametrize("memory", ["2GB", "lots", "1.5 Gi", ""])
def test_invalid_memory_is_an_input_error(memory: str) -> None:
    with pytest.raises(InvalidInputError):
        manifests.resources_with_limits(memory=memory)


# --- YAML --------------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_yaml_round_trips_any_text(text: str) -> None:
    doc = {"data": {"prompt.md": text, "k": "line\n" + text}}
    assert yaml.safe_load(manifests.to_yaml([doc])) == doc


def test_yaml_uses_literal_blocks_for_multiline_text() -> None:
    out = manifests.to_yaml([{"data": {"prompt.md": "# T\n\nbody\n"}}])
    assert "prompt.md: |\n    # T\n" in out


# --- manifests/ (kustomize) ------------------------------------------------------------

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    """``kubectl kustomize manifests/``, by (kind, name)."""
    import shutil
    import subprocess

    kubectl = require_tool(
        "kubectl", "nox -s unit builds it under CI; or hack/bootstrap/kube-binaries.sh"
    )
    copy = tmp_path_factory.mktemp("kustomize") / "manifests"
    shutil.copytree(MANIFESTS, copy)
    config = copy / "agent-config" / "opencode.json"
    if (
        not config.exists()
    ):  # owned by the agent-config work; a stand-in keeps this test independent
        config.parent.mkdir(exist_ok=True)
        config.write_text("{}\n", encoding="utf-8")
    done = subprocess.run(
        [kubectl, "kustomize", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_kustomization_installs_exactly_the_expected_objects(
    installed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert set(installed) == {
        ("Namespace", "speckit-pods"),
        ("ServiceAccount", "speckit-pods-agent"),
        ("Role", "speckit-pods-operator"),
        ("RoleBinding", "speckit-pods-operator"),
        ("ConfigMap", "speckit-pods-agent-config"),
        ("NetworkPolicy", "speckit-pods-agent"),
        ("ResourceQuota", "speckit-pods"),
        ("LimitRange", "speckit-pods"),
    }
    for obj in installed.values():
        validate(obj)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "speckit-pods"


def test_namespace_enforces_restricted_pod_security(
    installed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    ns_labels = installed[("Namespace", "speckit-pods")]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert ns_labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_agent_service_account_has_no_token_and_no_role(
    installed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert (
        installed[("ServiceAccount", "speckit-pods-agent")]["automountServiceAccountToken"] is False
    )
    for (kind, _), obj in installed.items():
        if kind == "RoleBinding":
            assert all(s["kind"] != "ServiceAccount" for s in obj["subjects"])


def test_operator_role_grants_the_least_verbs(
    installed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    grants: dict[str, set[str]] = {}
    for rule in installed[("Role", "speckit-pods-operator")]["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault(f"{group}/{resource}", set()).update(rule["verbs"])
    assert grants == {
        "/pods": {"create", "get", "list", "watch", "delete", "patch"},
        "/pods/log": {"get"},
        "/configmaps": {"create", "get", "list", "patch", "delete"},
        "/events": {"list", "watch"},
        "/resourcequotas": {"list"},
        "events.k8s.io/events": {"list", "watch"},
    }
    binding = installed[("RoleBinding", "speckit-pods-operator")]
    assert binding["roleRef"]["name"] == "speckit-pods-operator"
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "speckit-pods-operators"}
    ]


def test_agent_config_map_is_mounted_by_the_pod(
    installed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    cm = installed[("ConfigMap", manifests.AGENT_CONFIG_MAP)]
    assert set(cm["data"]) == {"opencode.json"}
    volumes = {v["name"]: v for v in manifests.render_pod(spec())["spec"]["volumes"]}
    assert volumes["opencode"]["configMap"]["items"] == [
        {"key": "opencode.json", "path": "opencode.json"}
    ]


def test_network_policy_selects_agent_pods_and_limits_egress(
    installed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    policy = installed[("NetworkPolicy", "speckit-pods-agent")]["spec"]
    selector = policy["podSelector"]["matchLabels"]
    pod_labels = manifests.render_pod(spec())["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert policy["ingress"] == []
    ports = {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 80), ("TCP", 22)}


def test_example_secrets_are_not_installed_and_hold_no_values() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "secrets.example.yaml" not in kustomization["resources"]
    docs = [d for d in yaml.safe_load_all((MANIFESTS / "secrets.example.yaml").read_text()) if d]
    keys = {d["metadata"]["name"]: d["stringData"] for d in docs}
    assert set(keys["speckit-pods-git"]) == {"token", "username"}
    assert {"ssh-privatekey", "known_hosts"} <= set(keys["speckit-pods-git-ssh-example"])
    assert "OPENAI_API_KEY" in keys["speckit-pods-llm"]
    assert all(v == "" for data in keys.values() for v in data.values())
    assert "--from-file=token=/dev/stdin" in (MANIFESTS / "secrets.example.yaml").read_text()


def _allows(policy: dict[str, Any], address: str, port: int) -> bool:
    """Whether an egress rule of ``policy`` admits TCP to ``address:port`` by its ipBlocks."""
    import ipaddress

    ip = ipaddress.ip_address(address)
    for rule in policy["egress"]:
        if not any(p["protocol"] == "TCP" and p["port"] == port for p in rule["ports"]):
            continue
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if block is None or ip.version != ipaddress.ip_network(block["cidr"]).version:
                continue
            inside = ip in ipaddress.ip_network(block["cidr"])
            if inside and not any(ip in ipaddress.ip_network(e) for e in block.get("except", [])):
                return True
    return False


@pytest.mark.parametrize(
    ("address", "port", "allowed"),
    [
        ("140.82.112.3", 443, True),  # a public git host
        ("2606:50c0:8000::153", 443, True),
        ("169.254.10.20", 80, False),  # the link-local range of the cloud metadata service
        ("fd00:ec2::254", 80, False),
        ("100.100.100.200", 80, False),
        ("10.96.0.1", 443, False),  # the API server's service IP (kind/kubeadm default)
        ("10.244.0.7", 80, False),  # another pod
        ("140.82.112.3", 5432, False),  # any other port
    ],
)
def test_network_policy_keeps_metadata_and_the_cluster_out_of_reach(
    installed: dict[tuple[str, str], dict[str, Any]], address: str, port: int, allowed: bool
) -> None:
    policy = installed[("NetworkPolicy", "speckit-pods-agent")]["spec"]
    assert _allows(policy, address, port) is allowed


def test_network_policy_sends_dns_only_to_the_cluster_dns(
    installed: dict[tuple[str, str], dict[str, Any]],
) -> None:
    policy = installed[("NetworkPolicy", "speckit-pods-agent")]["spec"]
    dns = [r for r in policy["egress"] if any(p["port"] == 53 for p in r["ports"])]
    assert len(dns) == 1 and all("ipBlock" not in peer for peer in dns[0]["to"])
    assert dns[0]["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_the_containers_storage_limits_cover_the_volumes() -> None:
    # the kubelet evicts a pod whose emptyDirs and logs outgrow the sum of its containers'
    # ephemeral-storage limits: that sum must leave room for full volumes
    pod = manifests.render_pod(spec())
    limits = sum(
        manifests.memory_bytes(c["resources"]["limits"]["ephemeral-storage"])
        for c in all_containers(pod)
    )
    sizes = sum(
        manifests.memory_bytes(v["emptyDir"]["sizeLimit"])
        for v in pod["spec"]["volumes"]
        if "emptyDir" in v
    )
    assert limits > sizes


def test_the_egress_allowlist_overlay_names_hosts_only(tmp_path: Path) -> None:
    import shutil
    import subprocess

    kubectl = require_tool(
        "kubectl", "nox -s unit builds it under CI; or hack/bootstrap/kube-binaries.sh"
    )
    shutil.copytree(MANIFESTS, tmp_path / "manifests")
    overlay = tmp_path / "examples" / "egress-allowlist"
    shutil.copytree(MANIFESTS.parent / "examples" / "egress-allowlist", overlay)
    done = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    (policy,) = [d for d in docs if d["kind"] == "NetworkPolicy"]
    egress = policy["spec"]["egress"]
    assert len(egress) == 2  # DNS to kube-dns, and the named hosts
    blocks = [peer["ipBlock"]["cidr"] for peer in egress[1]["to"]]
    assert blocks and all(cidr.endswith("/32") for cidr in blocks)  # no 0.0.0.0/0, no ::/0
    assert egress[1]["ports"] == [{"protocol": "TCP", "port": 443}]
    assert any(d["kind"] == "Namespace" for d in docs)  # the whole base, not only the patch


@pytest.mark.parametrize("value", ["589e12", "1e3", "6e-1", "1.5e3", "0o17", "0x1f", "-.inf", ".5"])
def test_yaml_quotes_strings_a_yaml_1_2_reader_takes_for_numbers(value: str) -> None:
    """kubectl's Go YAML reads an unquoted 589e12 as a float: a label would not decode."""
    text = manifests.to_yaml([{"metadata": {"labels": {"speckit-pods.dev/repo-id": value}}}])

    assert f"speckit-pods.dev/repo-id: '{value}'" in text
    assert yaml.safe_load(text)["metadata"]["labels"]["speckit-pods.dev/repo-id"] == value
    assert "repo-id: sp-001-x\n" in manifests.to_yaml([{"repo-id": "sp-001-x"}])


def test_the_git_side_alone_gets_the_feature_naming_its_session_ref() -> None:
    pod = manifests.render_pod(spec())
    assert git_env_of(pod)["FEATURE"] == "001-photo-albums"
    assert "FEATURE" not in env_of(pod)


def test_agent_pods_spread_over_the_nodes_softly() -> None:
    pod = manifests.render_pod(spec())
    (spread,) = pod["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"  # never keeps a pod waiting
    selector = spread["labelSelector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()  # it counts its own kind
