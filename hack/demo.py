"""Local demo: kind + Gitea + the dispatcher on examples/001-greeting-service.

``nox -s demo`` runs this after ``hack/bootstrap/all.sh``.  It brings up (or reuses)
a kind cluster and a fresh Gitea container, pushes the example feature to a Gitea
repository, runs ``scripts/run-async.sh`` on it and prints the pushed branches.  The
LLM is the real one when ``OPENAI_API_KEY`` or ``ANTHROPIC_API_KEY`` is set, else the
scripted test LLM (each task then writes ``scripted/<TID>.txt``).  Cluster and Gitea
stay up; ``--down`` removes both.

Usage: python hack/demo.py [--cluster NAME] [--down] [-- RUN-ASYNC-ARGS...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import uuid
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.e2e.cluster import (  # noqa: E402 - after the sys.path line above
    NAMESPACE,
    Kubectl,
    docker_network_gateway,
    make_cluster,
    pinned_versions,
    tool,
)
from tests.e2e.gitea import GiteaServer, git  # noqa: E402
from tests.support import scripted_llm  # noqa: E402

EXAMPLE = REPO_ROOT / "examples" / "001-greeting-service"
FEATURE = "001-greeting-service"
GITEA_CONTAINER = "speckit-pods-demo-gitea"
STATE_DIR = REPO_ROOT / ".cache" / "demo"
PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
SETUP_FILES = {  # what T001 [SYNC] asks for, done "by the developer" before dispatching
    "pyproject.toml": '[project]\nname = "greeting"\nversion = "0.1.0"\n'
    'requires-python = ">=3.11"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n',
    "src/greeting/__init__.py": '"""Greeting service."""\n',
    "README.md": "# greeting\n\nThe speckit-pods demo project.\n",
}


def say(text: str) -> None:
    """A status line for the person watching (stderr)."""
    print(f"demo: {text}", file=sys.stderr, flush=True)


def provider_keys() -> dict[str, str]:
    """The LLM provider keys set in the environment."""
    return {key: os.environ[key] for key in PROVIDER_KEYS if os.environ.get(key)}


def cluster_up(name: str) -> Kubectl:
    """Create or reuse the kind cluster and load the agent image into it."""
    versions = pinned_versions()
    say(f"kind cluster {name} (created unless it exists)")
    cluster = make_cluster(name, versions["NODE_IMAGE"], adopt=True)
    cluster.load_docker_image(versions["AGENT_IMAGE"])
    return Kubectl(Path(cluster.kubeconfig_path))


def gitea_up() -> GiteaServer:
    """A fresh Gitea container on the kind network, left running after we exit."""
    subprocess.run(["docker", "rm", "-f", GITEA_CONTAINER], capture_output=True, check=False)
    server = GiteaServer("kind", image=pinned_versions()["GITEA_IMAGE"])
    server._container.with_name(GITEA_CONTAINER)  # noqa: SLF001 - so --down can find it
    say(f"starting Gitea (container {GITEA_CONTAINER})")
    return server.start()


def install(kubectl: Kubectl, gitea: GiteaServer, keys: dict[str, str], llm_url: str) -> None:
    """Manifests, the agent config (scripted provider unless real keys) and both secrets.

    The scripted LLM is reached like any OpenAI-compatible provider: through the pod's
    LLM proxy (route ``llm``), which alone holds the Secret and adds its key.
    """
    kubectl.run("apply", "-k", str(REPO_ROOT / "manifests"))
    if not keys:
        config = json.loads((REPO_ROOT / "manifests/agent-config/opencode.json").read_text())
        config.update(scripted_llm.opencode_config("{env:SPECKIT_LLM_PROXY_URL}/llm"))
        rendered = kubectl.run(
            "create", "configmap", "speckit-pods-agent-config", "-n", NAMESPACE,
            "--from-literal=opencode.json=" + json.dumps(config), "--dry-run=client", "-o", "yaml",
        ).stdout  # fmt: skip
        kubectl.run("apply", "-f", "-", input_text=rendered)
    secret(kubectl, "speckit-pods-git", {"token": gitea.auth.token})
    # a random key, as a real one would be: a word ("scripted") would be masked wherever
    # it appears in the pods' output, file names included
    scripted = {"LLM_API_KEY": secrets.token_hex(16), "LLM_BASE_URL": llm_url}
    secret(kubectl, "speckit-pods-llm", keys or scripted)


def secret(kubectl: Kubectl, name: str, values: dict[str, str]) -> None:
    """Create or replace a Secret from a private env file (values never in argv)."""
    kubectl.run("delete", "secret", name, "-n", NAMESPACE, "--ignore-not-found")
    with tempfile.TemporaryDirectory(prefix="demo-secret-") as tmp:
        env_file = Path(tmp) / "values.env"
        env_file.touch(mode=0o600)
        env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        kubectl.run(
            "create", "secret", "generic", name, "-n", NAMESPACE, f"--from-env-file={env_file}"
        )  # fmt: skip


def example_files(scripted: bool) -> dict[str, str]:
    """The example feature as repo files, T001 done; ``scripted`` adds the write markers."""
    tasks = (EXAMPLE / "tasks.md").read_text().replace("- [ ] T001 ", "- [X] T001 ")
    if scripted:
        tasks = re.sub(r"^(- \[ \] T\d+ .*\[ASYNC\].*)$", r"\1 scripted:write", tasks, flags=re.M)
    files = {f"specs/{FEATURE}/{p.name}": p.read_text() for p in EXAMPLE.glob("*.md")}
    return {**SETUP_FILES, **files, f"specs/{FEATURE}/tasks.md": tasks}


def push_example(gitea: GiteaServer, scripted: bool, work: Path) -> tuple[str, Path]:
    """Create the Gitea repo and clone it (the developer's checkout); return name, clone."""
    repo = f"greeting-{uuid.uuid4().hex[:6]}"
    gitea.create_repo(repo, example_files(scripted))
    clone = work / repo
    git(["clone", "-q", gitea.clone_url(repo), str(clone)], work, gitea.auth)
    say(f"pushed {EXAMPLE.relative_to(REPO_ROOT)} to {gitea.host_url}/{gitea.owner}/{repo}")
    return repo, clone


def dispatch(
    kubectl: Kubectl, gitea: GiteaServer, repo: str, clone: Path, extra: Sequence[str]
) -> int:
    """Run scripts/run-async.sh in the clone, output straight to the terminal."""
    args = ["bash", str(REPO_ROOT / "scripts" / "run-async.sh"),
            "--tasks", str(clone / "specs" / FEATURE / "tasks.md"),
            "--repo", gitea.clone_url(repo, cluster=True), "--base", "main",
            "--allow-insecure-http", "--pr", *extra]  # fmt: skip  # the demo's Gitea speaks http://
    say("running: scripts/run-async.sh " + " ".join(args[2:]))
    env = {
        **os.environ, "KUBECONFIG": str(kubectl.kubeconfig), **developer_git(gitea, repo),
        "SPECKIT_PODS_GIT_HOST": "gitea",  # --pr: the demo's Gitea has an IP for a name
    }  # fmt: skip
    return subprocess.run(args, cwd=clone, env=env, check=False).returncode


def developer_git(gitea: GiteaServer, repo: str) -> dict[str, str]:
    """Your git's credentials for the demo's Gitea: a credential store in the state dir.

    Added to your git config for this run only: the dispatcher reads the done tasks'
    branches with your git, as on a real repository.
    """
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    urls = [gitea.clone_url(repo), gitea.clone_url(repo, cluster=True)]
    store = gitea.auth.credential_store(STATE_DIR / "git-credentials", urls)
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    return {
        "GIT_CONFIG_COUNT": str(count + 1),
        f"GIT_CONFIG_KEY_{count}": "credential.helper",
        f"GIT_CONFIG_VALUE_{count}": f"store --file {store}",
    }


INTEGRATE_RE = re.compile(r"Integrate (T\d+) ")  # the integration pod's merge subjects


def integrated_tasks(gitea: GiteaServer, repo: str, branch: str) -> list[str]:
    """The tasks merged into ``branch``, oldest first, from its merge commits' subjects."""
    ref = urllib.parse.quote(branch, safe="")
    commits = gitea.api("GET", f"/repos/{gitea.owner}/{repo}/commits?sha={ref}&limit=50")
    subjects = [str(c["commit"]["message"]) for c in reversed(commits or [])]
    return [m.group(1) for m in map(INTEGRATE_RE.match, subjects) if m]


def report(gitea: GiteaServer, repo: str, kubectl: Kubectl, cluster: str) -> None:
    """Print the pushed branches and how to look around and tear down."""
    branches = [b for b in gitea.list_branches(repo) if b != "main"]
    print(f"\nBranches pushed to {gitea.host_url}/{gitea.owner}/{repo}:")
    for branch in branches or ["(none)"]:
        print(f"  {branch}")
    integration = f"specs/{FEATURE}/integration"
    if integration in branches:
        merged = integrated_tasks(gitea, repo, integration)
        print(f"\nIntegration branch {integration} (one merge commit per task, in order):")
        print(f"  {', '.join(merged) or '(no task merged)'}")
    else:
        print(f"\nIntegration branch {integration}: not pushed (see the dispatcher's lines)")
    pulls = gitea.api("GET", f"/repos/{gitea.owner}/{repo}/pulls?state=open&limit=50")
    print("\nDraft pull requests (opened by --pr with your git credentials):")
    for pull in sorted(pulls, key=lambda p: int(p["number"])) or [None]:
        print(f"  #{pull['number']} {pull['title']}  {pull['html_url']}" if pull else "  (none)")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    token_file = STATE_DIR / "gitea-token"
    token_file.touch(mode=0o600)
    token_file.write_text(gitea.auth.token + "\n")
    print(
        f"\nLeft running: kind cluster {cluster!r} and Gitea ({GITEA_CONTAINER}).\n"
        f"  export KUBECONFIG={kubectl.kubeconfig}\n"
        f"  Gitea web UI: {gitea.host_url} (user {gitea.owner}, token in {token_file})\n"
        f"Tear down: nox -s demo -- --down   (or: python hack/demo.py --down"
        f"{'' if cluster == DEFAULT_CLUSTER else f' --cluster {cluster}'})"
    )


def down(cluster: str) -> int:
    """Remove the demo Gitea container and the kind cluster."""
    subprocess.run(["docker", "rm", "-f", GITEA_CONTAINER], capture_output=True, check=False)
    say(f"removed Gitea container {GITEA_CONTAINER} (if it existed)")
    done = subprocess.run([str(tool("kind")), "delete", "cluster", "--name", cluster], check=False)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    return done.returncode


DEFAULT_CLUSTER = "speckit-pods-demo"


def main(argv: Sequence[str] | None = None) -> int:
    """Bring the demo up and run it, or tear it down."""
    parser = argparse.ArgumentParser(description="speckit-pods local demo")
    parser.add_argument("--cluster", default=DEFAULT_CLUSTER, help="kind cluster name")
    parser.add_argument("--down", action="store_true", help="delete the cluster and Gitea")
    parser.add_argument("run_async_args", nargs="*", help="extra run-async.sh args (after --)")
    args = parser.parse_args(argv)
    if args.down:
        return down(args.cluster)
    keys = provider_keys()
    if keys:
        say(f"using the REAL LLM: {', '.join(sorted(keys))} set (this costs tokens)")
    else:
        say("using the SCRIPTED LLM, no provider key set (OPENAI_API_KEY / ANTHROPIC_API_KEY)")
    kubectl = cluster_up(args.cluster)
    gitea = gitea_up()
    server = None if keys else scripted_llm.start("0.0.0.0", 0)
    try:
        llm_url = (
            f"http://{docker_network_gateway('kind')}:{server.server_address[1]}/v1"
            if server
            else ""
        )
        install(kubectl, gitea, keys, llm_url)
        with tempfile.TemporaryDirectory(prefix="speckit-pods-demo-") as tmp:
            repo, clone = push_example(gitea, scripted=server is not None, work=Path(tmp))
            code = dispatch(kubectl, gitea, repo, clone, args.run_async_args)
        report(gitea, repo, kubectl, args.cluster)
        say(f"run-async.sh exit code {code}")
        return code
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
