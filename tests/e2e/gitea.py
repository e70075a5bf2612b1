"""A real Gitea server in a container for the e2e (image from hack/bootstrap/gitea.sh).

The container joins a docker network by name (the e2e passes ``kind``), so pods reach it
at ``cluster_url`` (its IP on that network: the cluster has no DNS for it) while the
host uses ``host_url`` (a published port). Git over HTTP authenticates with the admin's
access token sent as an ``http.extraHeader`` through git's environment, never in a URL.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

GITEA_IMAGE = "gitea/gitea:1.26.4"  # keep in sync with GITEA_VERSION in hack/bootstrap/gitea.sh
HTTP_PORT = 3000
ADMIN_USER = "speckit"


class GiteaError(RuntimeError):
    """The Gitea container failed to start, seed, or answer as expected."""


@dataclass(frozen=True)
class GitAuth:
    """Who git authenticates as over HTTP: a username and an access token."""

    username: str
    token: str

    def env(self) -> dict[str, str]:
        """Git config (as environment) that sends the token as HTTP Basic auth."""
        basic = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }

    def credential_store(self, path: Path, urls: Sequence[str]) -> Path:
        """Write a git credential store (mode 0600) holding the token for each URL's host.

        How a developer's git keeps it (``credential.helper = store --file PATH``), not the
        environment: the extension's wrappers drop ``GIT_*``.
        """
        path.touch(mode=0o600)
        path.chmod(0o600)
        lines = []
        for url in urls:
            parts = urlsplit(url)
            lines.append(f"{parts.scheme}://{self.username}:{self.token}@{parts.netloc}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(args: list[str], cwd: Path | None, auth: GitAuth | None = None) -> str:
    """Run ``git ARGS`` in ``cwd`` (no prompts, no user config; ``auth`` as header).

    Returns stdout; raises GiteaError with git's stderr on failure.
    """
    env = {**os.environ, **GIT_ENV, **(auth.env() if auth else {})}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise GiteaError(f"git {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class LoggedCommit:
    """One commit of a branch's history: its id, its parents (first first), its subject."""

    commit: str
    parents: tuple[str, ...]
    subject: str


def first_parent_log(clone: Path, branch: str, auth: GitAuth) -> list[LoggedCommit]:
    """``branch`` of the clone's ``origin``, fetched: its first-parent history, newest first.

    On an integration branch that is one merge commit per task (its second parent the
    task's commit), down to the base's own history.
    """
    git(["fetch", "-q", "origin", branch], cwd=clone, auth=auth)
    out = git(["log", "--first-parent", "--format=%H%x00%P%x00%s", "FETCH_HEAD"], cwd=clone)
    found = []
    for line in out.splitlines():
        commit, parents, subject = line.split("\0", 2)
        found.append(LoggedCommit(commit, tuple(parents.split()), subject))
    return found


class GiteaServer:
    """A started Gitea container with a seeded admin user and token."""

    def __init__(
        self,
        network: str,
        image: str = GITEA_IMAGE,
        ready_timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Configure (not start) Gitea on docker ``network``; ``env`` e.g. GITEA__x__Y."""
        self.network = network
        self.image = image
        self.ready_timeout = ready_timeout
        self.auth = GitAuth(ADMIN_USER, "")
        self._container = DockerContainer(image)
        self._container.with_exposed_ports(HTTP_PORT).with_kwargs(network=network)
        self._container.with_envs(**dict(env or {}))
        self._host_url = ""
        self._cluster_url = ""

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> GiteaServer:
        """Start the container, wait until healthy, and seed the admin user and token."""
        testcontainers_config.ryuk_disabled = True  # no registry: the reaper image is absent
        found = subprocess.run(
            ["docker", "image", "inspect", self.image], capture_output=True, check=False
        )
        if found.returncode != 0:  # never pull: there is no registry
            raise GiteaError(
                f"image {self.image!r} not found locally.\nHint: run hack/bootstrap/gitea.sh"
            )
        self._container.start()
        try:
            port = self._container.get_exposed_port(HTTP_PORT)
            self._host_url = f"http://{self._container.get_container_host_ip()}:{port}"
            self._cluster_url = f"http://{self._network_ip()}:{HTTP_PORT}"
            self._wait_healthy()
            self.auth = self._seed_admin()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop and remove the container (idempotent)."""
        with contextlib.suppress(Exception):
            self._container.stop()

    def __enter__(self) -> GiteaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def host_url(self) -> str:
        """Base URL reachable from the host, e.g. ``http://localhost:32768``."""
        return self._host_url

    @property
    def cluster_url(self) -> str:
        """Base URL reachable from containers/pods on ``network``: ``http://<ip>:3000``."""
        return self._cluster_url

    @property
    def owner(self) -> str:
        """The user owning the repositories this helper creates."""
        return self.auth.username

    @property
    def container_id(self) -> str:
        """The docker container's id (fault tests pause and unpause it)."""
        return str(self._container.get_wrapped_container().id)

    def clone_url(self, repo: str, *, cluster: bool = False) -> str:
        """HTTP clone URL of ``repo`` (no credentials) from the host or from the cluster."""
        base = self._cluster_url if cluster else self._host_url
        return f"{base}/{self.owner}/{repo}.git"

    def logs(self) -> str:
        """The container's stdout and stderr (for failure messages)."""
        out, err = self._container.get_logs()
        return (out + err).decode(errors="replace")

    def _network_ip(self) -> str:
        wrapped = self._container.get_wrapped_container()
        wrapped.reload()
        networks: dict[str, Any] = wrapped.attrs["NetworkSettings"]["Networks"]
        ip = str(networks.get(self.network, {}).get("IPAddress", ""))
        if not ip:
            raise GiteaError(f"container has no IP on docker network {self.network!r}: {networks}")
        return ip

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer yet"
        while True:
            wrapped = self._container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status != "running":
                raise GiteaError(f"gitea exited ({wrapped.status}); logs:\n{self.logs()[-3000:]}")
            try:
                status, _ = self.request("GET", "/api/healthz", token="")
                if status == 200:
                    return
                last = f"HTTP {status}"
            except OSError as err:
                last = str(err)
            if time.monotonic() > deadline:
                raise GiteaError(
                    f"gitea not healthy after {self.ready_timeout}s ({last}); logs:\n"
                    f"{self.logs()[-3000:]}"
                )
            time.sleep(0.5)

    def _exec(self, args: list[str]) -> str:
        code, output = self._container.exec(args)
        text = bytes(output).decode(errors="replace")
        if code != 0:
            raise GiteaError(f"{' '.join(args[:4])} failed ({code}): {text.strip()[-2000:]}")
        return text

    def _seed_admin(self) -> GitAuth:
        self._exec(
            ["gitea", "admin", "user", "create", "--admin", "--username", ADMIN_USER,
             "--password", secrets.token_urlsafe(16), "--email", f"{ADMIN_USER}@example.invalid",
             "--must-change-password=false"]
        )  # fmt: skip
        out = self._exec(
            ["gitea", "admin", "user", "generate-access-token", "--username", ADMIN_USER,
             "--token-name", "e2e", "--scopes", "all", "--raw"]
        )  # fmt: skip
        token = out.strip().splitlines()[-1].strip() if out.strip() else ""
        if len(token) < 32 or not token.isalnum():
            raise GiteaError(f"unexpected generate-access-token output: {out[-500:]!r}")
        return GitAuth(ADMIN_USER, token)

    # -- HTTP API --------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> tuple[int, bytes]:
        """Raw HTTP call to ``host_url + path``; ``token`` None = admin's, "" = anonymous."""
        headers = {"Accept": "application/json"}
        token = self.auth.token if token is None else token
        if token:
            headers["Authorization"] = f"token {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self._host_url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def api(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, ok: int = 200
    ) -> Any:
        """Call ``/api/v1{path}`` with the admin token; returns decoded JSON (or None)."""
        status, raw = self.request(method, f"/api/v1{path}", body)
        if status != ok:
            raise GiteaError(f"{method} /api/v1{path}: HTTP {status}: {raw[:500]!r}")
        return json.loads(raw) if raw else None

    # -- repositories ----------------------------------------------------------------

    def create_repo(
        self,
        name: str,
        files: Mapping[str, str],
        default_branch: str = "main",
        private: bool = True,
    ) -> str:
        """Create ``owner/name`` and push one commit with ``files``; returns the commit sha."""
        self.api(
            "POST", "/user/repos",
            {"name": name, "private": private, "default_branch": default_branch},
            ok=201,
        )  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="gitea-seed-") as tmp:
            work = Path(tmp)
            git(["init", "-q", "-b", default_branch], work)
            for rel, content in files.items():
                target = work / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
            git(["add", "--all"], work)
            git(["-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid",
                 "commit", "-q", "-m", "Initial commit"], work)  # fmt: skip
            git(["push", "-q", self.clone_url(name), f"HEAD:refs/heads/{default_branch}"],
                work, self.auth)  # fmt: skip
            sha = git(["rev-parse", "HEAD"], work).strip()
        self._wait_indexed(name, default_branch, sha)
        return sha

    def heads(self, repo: str) -> dict[str, str]:
        """Branch name -> head sha, from ``git ls-remote`` (authoritative, no async lag)."""
        out = git(["ls-remote", "--heads", self.clone_url(repo)], None, self.auth)
        pairs = (line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        return {ref.removeprefix("refs/heads/"): sha for sha, ref in pairs}

    def branch_commit(self, repo: str, branch: str) -> str | None:
        """Head commit sha of ``branch``, or None if the branch does not exist."""
        return self.heads(repo).get(branch)

    def list_branches(self, repo: str) -> list[str]:
        """Names of all branches of ``repo``, sorted."""
        return sorted(self.heads(repo))

    def read_file(self, repo: str, branch: str, path: str) -> str | None:
        """Content of ``path`` at ``branch`` via the API, or None if either is missing."""
        sha = self.branch_commit(repo, branch)  # a sha ref: no wait for the branch table sync
        if sha is None:
            return None
        status, raw = self.request(
            "GET", f"/api/v1/repos/{self.owner}/{repo}/raw/{quote(path)}?ref={sha}"
        )
        if status == 404:
            return None
        if status != 200:
            raise GiteaError(f"file {repo}@{branch}:{path}: HTTP {status}: {raw[:300]!r}")
        return raw.decode()

    def _wait_indexed(self, repo: str, branch: str, sha: str) -> None:
        """Wait until Gitea processed the first push (async): the repo is no longer empty."""
        deadline = time.monotonic() + 30
        while True:
            info = self.api("GET", f"/repos/{self.owner}/{repo}")
            commit = self.api("GET", f"/repos/{self.owner}/{repo}/branches")
            if not info["empty"] and any(b["commit"]["id"] == sha for b in commit or []):
                return
            if time.monotonic() > deadline:
                raise GiteaError(f"gitea did not index the push to {repo}@{branch} in 30s")
            time.sleep(0.2)


@contextlib.contextmanager
def gitea_server(
    network: str,
    image: str = GITEA_IMAGE,
    ready_timeout: float = 120.0,
    env: Mapping[str, str] | None = None,
) -> Iterator[GiteaServer]:
    """Fixture factory: a started, seeded GiteaServer on ``network``, stopped on exit."""
    with GiteaServer(network, image, ready_timeout, env) as server:
        yield server
