"""The one HTTP helper of the pull-request clients: JSON in, JSON out, every failure a line.

* A timeout on every request; an answer larger than :data:`MAX_ANSWER` is refused.
* No redirect is followed (a redirect could carry the token's header to another host):
  it is an error naming where it pointed.
* Proxies: only an ``https`` proxy from the environment (``https_proxy``, with
  ``no_proxy``), which tunnels TLS so it never sees the token; never a plain-http proxy,
  never for a loopback address.
* The token is in the headers only, and no error message quotes a header or echoes it:
  the API's own message is cut to one printable line with the secrets scrubbed.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from runtime.contract.exit_codes import ExitCode
from runtime.contract.redact import printable, scrub
from runtime.errors import ReviewError

TIMEOUT_S = 30.0
MAX_ANSWER = 8 * 1024 * 1024
MAX_MESSAGE = 300
USER_AGENT = "speckit-pods"
Opener = Callable[[urllib.request.Request, float], Any]
_HINTS = {
    401: "the host refused the token: check SPECKIT_PODS_GIT_API_TOKEN or your git "
    "credential for it (expired, revoked?)",
    403: "the token may lack the scope to open pull requests (GitHub: pull_requests:write; "
    "GitLab: api; Gitea: write:repository), or the API's rate limit was hit",
    404: "check the remote URL; a private repository is also 404 to a token that cannot see it",
    409: "the host says the pull request conflicts with one that exists",
    422: "the host refused the request's content (no commits between the branches? "
    "a base branch that does not exist?)",
}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _proxies(url: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or _loopback(host):
        return {}
    proxy = urllib.request.getproxies().get("https", "")
    if not proxy or urllib.request.proxy_bypass(host):
        return {}
    return {"https": proxy}


def _open(request: urllib.request.Request, timeout: float) -> Any:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler(_proxies(request.full_url)),
        _NoRedirect(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
    )
    return opener.open(request, timeout=timeout)


OPEN: Opener = _open  # the seam the unit tests' guard wraps (loopback only)


def _message(raw: bytes, secrets: Iterable[str]) -> str:
    """The API's ``message`` (GitHub, Gitea) or ``message``/``error`` (GitLab), one line."""
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    text = data.get("message") or data.get("error") or ""
    if not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        detail = first.get("message") if isinstance(first, dict) else first
        if isinstance(detail, str) and detail:
            text = f"{text}: {detail}" if text else detail
    lines = scrub(text, secrets).splitlines()
    line = " ".join(" ".join(printable(part) for part in lines).split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def _status_error(err: urllib.error.HTTPError, what: str, secrets: Iterable[str]) -> ReviewError:
    code = err.code
    if 300 <= code < 400:
        err.close()
        where = urllib.parse.urlsplit(err.headers.get("Location", "") or "")
        return ReviewError(
            f"{what}: the API answered with a redirect ({code}) to "
            f"{where.scheme}://{where.netloc}{where.path}; not followed",
            hint="the repository may have moved (update the remote), or set "
            "SPECKIT_PODS_GIT_API to the API's address",
            status=code,
        )
    try:
        raw = err.read(64 * 1024)
    except OSError:
        raw = b""
    finally:
        err.close()
    said = _message(raw, secrets)
    error = ReviewError(
        f"{what}: HTTP {code}" + (f": {said}" if said else ""),
        hint=_HINTS.get(code, "the host's API failed; try again later"),
        status=code,
    )
    if code in (401, 403):
        error.exit_code = ExitCode.GIT_AUTH_FAILED
    elif code == 404:
        error.exit_code = ExitCode.REPO_NOT_FOUND
    return error


class Api:
    """A REST API's base URL and the headers every request carries (auth among them)."""

    def __init__(self, base: str, headers: Mapping[str, str], secrets: Iterable[str] = ()):
        self.base = base.rstrip("/")
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **headers}
        self._secrets = tuple(secrets)
        self.origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(self.base))

    def __repr__(self) -> str:
        return f"Api({self.base!r})"  # never the headers

    def call(
        self,
        method: str,
        path: str,
        query: Mapping[str, str | int] | None = None,
        payload: Mapping[str, Any] | None = None,
        timeout: float = TIMEOUT_S,
    ) -> Any:
        """``method path`` with ``payload`` as JSON; the answer's JSON.

        Raises:
            ReviewError: unreachable, a status other than 2xx, or an answer that is not
                JSON; one line, naming the method and the path, never the token.
        """
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method)
        for name, value in self._headers.items():
            request.add_unredirected_header(name, value)
        if data is not None:
            request.add_unredirected_header("Content-Type", "application/json")
        what = f"{method} {urllib.parse.urlsplit(url).path}"
        try:
            with OPEN(request, timeout) as answer:
                raw = answer.read(MAX_ANSWER + 1)
        except urllib.error.HTTPError as err:
            raise _status_error(err, what, self._secrets) from None
        except (http.client.HTTPException, ValueError) as err:  # a bad answer, a bad header
            raise ReviewError(  # not str(err): http.client quotes a header value refused
                f"{what}: the request to {self.origin} failed ({type(err).__name__})",
                hint="check SPECKIT_PODS_GIT_API and the token (one line, no spaces)",
            ) from None
        except (urllib.error.URLError, OSError) as err:  # TimeoutError is an OSError
            reason = getattr(err, "reason", err)
            raise ReviewError(
                f"{what}: the API at {self.origin} is unreachable: {reason}",
                hint="check the network and the host; SPECKIT_PODS_GIT_API sets the API's address",
            ) from None
        if len(raw) > MAX_ANSWER:
            raise ReviewError(f"{what}: the API's answer is larger than {MAX_ANSWER} bytes")
        try:
            return json.loads(raw) if raw.strip() else None
        except ValueError:
            raise ReviewError(
                f"{what}: the API at {self.origin} did not answer JSON",
                hint="is SPECKIT_PODS_GIT_API (or the inferred API address) the REST API?",
            ) from None
