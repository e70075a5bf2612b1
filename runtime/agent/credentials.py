"""Git authentication of the trusted side, the only container that mounts the git Secret.

The secret never reaches argv, URLs, logs or the git dir's config.  HTTPS: a global
git config file under the git side's ``$HOME`` (``GIT_CONFIG_GLOBAL``; a volume the
agent container never mounts) holds a credential helper that reads the mounted token
file *when git asks* -- and it is configured for the spawn URL's scheme and host only
(``credential.https://host.helper``), so no redirect or rewritten URL gets the token.
Cleartext ``http://`` gets no helper unless ``ALLOW_INSECURE_HTTP=1`` (test servers).
SSH: ``GIT_SSH_COMMAND`` points at a private copy (mode 0600) of the mounted key,
with ``known_hosts`` from the Secret (strict checking) or a HOME file with
``accept-new``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from runtime.agent.config import AgentConfig

TOKEN_KEY = "token"
USERNAME_KEY = "username"
SSH_KEY = "ssh-privatekey"
KNOWN_HOSTS_KEY = "known_hosts"
DEFAULT_USERNAME = "x-access-token"


def is_ssh_url(url: str) -> bool:
    """Whether ``url`` is an ssh URL (``ssh://`` or scp-like ``user@host:path``)."""
    if url.startswith("ssh://") or url.startswith("git+ssh://"):
        return True
    return "://" not in url and ":" in url.split("/", 1)[0]


def helper_command(credentials_dir: Path) -> str:
    """The ``credential.helper`` value: a shell function reading the files at call time."""
    token = shlex.quote(str(credentials_dir / TOKEN_KEY))
    user = shlex.quote(str(credentials_dir / USERNAME_KEY))
    return (
        '!f() { test "$1" = get || exit 0; test -r ' + token + " || exit 0; "
        "u=$(cat " + user + " 2>/dev/null); "
        'printf "username=%s\\n" "${u:-' + DEFAULT_USERNAME + '}"; '
        'printf "password=%s\\n" "$(cat ' + token + ')"; }; f'
    )


def credential_scope(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL: the only place the helper answers for."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme.lower()}://{host.lower()}"


def read_token(credentials_dir: Path) -> str:
    """The token, for redaction only; empty when there is none."""
    try:
        return (credentials_dir / TOKEN_KEY).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def setup(config: AgentConfig, warn: Callable[[str], None] = print) -> dict[str, str]:
    """Write the global git config (and ssh key copy); return the env for our git calls."""
    state = config.home / ".speckit-pods"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    gitconfig = state / "gitconfig"
    gitconfig.write_text("", encoding="utf-8")
    settings = {
        "user.name": config.author_name,
        "user.email": config.author_email,
        "init.defaultBranch": "main",
        "advice.detachedHead": "false",
        # the work tree is an emptyDir (owned by root, group 10001): trusted by its fixed
        # path, which the agent cannot replace (a mount point)
        "safe.directory": str(config.clone_dir),
    }
    env = {
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": config.author_name,
        "GIT_AUTHOR_EMAIL": config.author_email,
        "GIT_COMMITTER_NAME": config.author_name,
        "GIT_COMMITTER_EMAIL": config.author_email,
    }
    if is_ssh_url(config.repo_url):
        ssh = _ssh_command(config, state)
        if ssh:
            env["GIT_SSH_COMMAND"] = ssh
    elif (config.credentials_dir / TOKEN_KEY).is_file():
        scheme = urllib.parse.urlsplit(config.repo_url).scheme.lower()
        if scheme == "https" or (scheme == "http" and config.allow_insecure_http):
            scope = credential_scope(config.repo_url)
            settings[f"credential.{scope}.helper"] = helper_command(config.credentials_dir)
        elif scheme == "http":
            warn(
                "[git] WARNING: not sending the git token over cleartext http:// "
                "(spawn with --allow-insecure-http to allow it)"
            )
    for key, value in settings.items():
        subprocess.run(
            ["git", "config", "--file", str(gitconfig), "--", key, value],
            check=True,
            capture_output=True,
        )
    return env


def _ssh_command(config: AgentConfig, state: Path) -> str:
    source = config.credentials_dir / SSH_KEY
    if not source.is_file():
        return ""
    key = state / "id_ssh"
    shutil.copyfile(source, key)
    os.chmod(key, 0o600)
    known = config.credentials_dir / KNOWN_HOSTS_KEY
    if known.is_file():
        hosts, strict = known, "yes"
    else:
        hosts, strict = state / "known_hosts", "accept-new"
    options = [
        "ssh",
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"UserKnownHostsFile={hosts}",
        "-o",
        f"StrictHostKeyChecking={strict}",
    ]
    return shlex.join(options)
