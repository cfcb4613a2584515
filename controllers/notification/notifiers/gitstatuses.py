"""Git host notifiers: commit statuses (github, gitlab, gitea, bitbucketserver,
bitbucket, azuredevops) and githubdispatch.

Commit statuses take the commit from the ``revision`` metadata
(``<branch>@sha1:<hex>``); every type but gitea skips ``Progressing``
events, gitea marks them pending. Headwater sends each status as one write:
where Flux first reads the commit's statuses to skip an identical one, the
write of an identical status is itself harmless (the host keeps one status per
context or key).
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse

from controllers.notification.notifiers import base
from shared.api import notification

PROGRESSING_REASON = "Progressing"


_SHA = re.compile(r"(?:^|@|:)(?:sha1:|sha256:)?([0-9a-f]{40}|[0-9a-f]{64})$")


def commit_sha(revision: str) -> str:
    """The commit hash of a Flux revision (``main@sha1:<hex>``, ``<hex>``, ``main/<hex>``)."""
    found = _SHA.search(revision.replace("/", ":"))
    if found is None:
        raise base.NotifierError(f"failed to extract commit hash from '{revision}' revision")
    return found.group(1)


def words(reason: str) -> str:
    """A CamelCase reason in lower-case words, as Flux describes commit statuses."""
    return " ".join(
        re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^A-Za-z0-9]+", reason)
    ).lower()


def git_address(address: str) -> tuple[str, str]:
    """The host URL and the repository path (``owner/repo``) of a Git address."""
    if address.startswith("git@"):
        server, _, path = address[4:].partition(":")
        host = f"https://{server}"
    else:
        parts = urllib.parse.urlsplit(address)
        scheme = "https" if parts.scheme == "ssh" else parts.scheme
        if scheme not in ("http", "https") or not parts.netloc:
            raise base.NotifierError(f"invalid Git address {address!r}")
        host, path = f"{scheme}://{parts.netloc.rpartition('@')[2]}", parts.path
    path = path.strip("/").removesuffix(".git")
    if not path:
        raise base.NotifierError(f"invalid Git address {address!r}: no repository path")
    return host, path


def _commit_status(event: notification.Event, target: base.Target) -> tuple[str, str]:
    """The commit and the description of a status: the reason in lower-case words."""
    if not target.commit_status:
        raise base.NotifierError("commit status cannot be empty")
    revision = (event.metadata or {}).get(notification.META_REVISION_KEY)
    if revision is None:
        raise base.NotifierError("missing revision metadata")
    if event.severity not in (notification.SEVERITY_INFO, notification.SEVERITY_ERROR):
        raise base.NotifierError(f"can't convert severity {event.severity!r} to a commit state")
    return commit_sha(revision), words(event.reason)


def owner_repo(target: base.Target, host_kind: str) -> tuple[str, str]:
    host, repo = git_address(target.address)
    if repo.count("/") != 1:
        raise base.NotifierError(f"invalid {host_kind} repository {repo!r}: want owner/name")
    return host, repo


def github_api(host: str) -> str:
    return "https://api.github.com" if host == "https://github.com" else f"{host}/api/v3"


def github_headers(target: base.Target) -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json"}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    return headers


def _github(event: notification.Event, target: base.Target) -> list[base.Request]:
    if event.reason == PROGRESSING_REASON:
        return []
    sha, description = _commit_status(event, target)
    host, repo = owner_repo(target, "GitHub")
    state = "success" if event.severity == notification.SEVERITY_INFO else "failure"
    payload = {"state": state, "description": description, "context": target.commit_status}
    url = f"{github_api(host)}/repos/{repo}/statuses/{sha}"
    return [base.post(url, payload, github_headers(target))]


def _gitlab(event: notification.Event, target: base.Target) -> list[base.Request]:
    if event.reason == PROGRESSING_REASON:
        return []
    if not target.token:
        raise base.NotifierError("gitlab token cannot be empty")
    sha, description = _commit_status(event, target)
    host, project = git_address(target.address)
    project_id = urllib.parse.quote(project, safe="")
    state = "success" if event.severity == notification.SEVERITY_INFO else "failed"
    payload = {"state": state, "name": target.commit_status, "description": description}
    url = f"{host}/api/v4/projects/{project_id}/statuses/{sha}"
    return [base.post(url, payload, {"PRIVATE-TOKEN": target.token})]


def _gitea(event: notification.Event, target: base.Target) -> list[base.Request]:
    sha, description = _commit_status(event, target)
    host, repo = owner_repo(target, "Gitea")
    if event.reason == PROGRESSING_REASON:
        state = "pending"
    else:
        state = "success" if event.severity == notification.SEVERITY_INFO else "failure"
    payload = {
        "state": state,
        "target_url": "",
        "description": description,
        "context": target.commit_status,
    }
    headers = {"Authorization": f"token {target.token}"} if target.token else {}
    return [base.post(f"{host}/api/v1/repos/{repo}/statuses/{sha}", payload, headers)]


def _bitbucket_server_commits(address: str) -> str:
    """``<host><context>/rest/api/latest/projects/<key>/repos/<slug>/commits`` of a clone URL."""
    parts = urllib.parse.urlsplit(address)
    if parts.scheme not in ("http", "https"):
        raise base.NotifierError(
            f"could not parse git address: unsupported scheme type in address: {parts.scheme}. "
            "Must be http or https"
        )
    path = parts.path.removesuffix(".git")
    context, found, repository = path.rpartition("/scm/")
    if not found:
        raise base.NotifierError(
            "could not parse git address: supplied provider address is not http(s) git clone url"
        )
    project, _, slug = repository.partition("/")
    if not project or not slug or "/" in slug:
        raise base.NotifierError(
            f"could not parse git address: invalid repository id {repository!r}"
        )
    return f"{parts.scheme}://{parts.netloc}{context}/rest/api/latest/projects/{project}/repos/{slug}/commits"


def _bitbucket_server(event: notification.Event, target: base.Target) -> list[base.Request]:
    if event.reason == PROGRESSING_REASON:
        return []
    if not target.token and not (target.username and target.password):
        raise base.NotifierError(
            "invalid credentials, expected to be one of username/password or API Token"
        )
    commits = _bitbucket_server_commits(target.address)
    sha, description = _commit_status(event, target)
    obj = event.involved_object
    payload = {
        "description": description,
        "key": hashlib.sha1(target.commit_status.encode(), usedforsecurity=False).hexdigest(),
        "name": f"{obj.kind}/{obj.name}".lower(),
        "state": "SUCCESSFUL" if event.severity == notification.SEVERITY_INFO else "FAILED",
        "url": target.address,
    }
    auth = {"Authorization": f"Bearer {target.token}"} if target.token else base.basic_auth(target)
    headers = {**auth, "x-atlassian-token": "no-check", "x-requested-with": "XMLHttpRequest"}
    return [base.post(f"{commits}/{sha}/builds", payload, headers)]


BITBUCKET_API = "https://api.bitbucket.org/2.0"
AZURE_DEVOPS_API_VERSION = "6.0"
AZURE_DEVOPS_GENRE = "fluxcd"


def _state(event: notification.Event, *, info: str, error: str) -> str:
    return info if event.severity == notification.SEVERITY_INFO else error


def _bitbucket(event: notification.Event, target: base.Target) -> list[base.Request]:
    """Bitbucket Cloud: a build status; the token is ``<user>:<app password>``."""
    if not target.token:
        raise base.NotifierError("bitbucket token cannot be empty")
    if not target.commit_status:
        raise base.NotifierError("commit status cannot be empty")
    username, found, password = target.token.partition(":")
    if not found or ":" in password:
        raise base.NotifierError("invalid token format, expected to be <user>:<password>")
    _, repo = git_address(target.address)
    if repo.count("/") != 1:
        raise base.NotifierError(f"invalid repository id {repo!r}")
    if event.reason == PROGRESSING_REASON:
        return []
    sha, description = _commit_status(event, target)
    obj = event.involved_object
    payload = {
        "state": _state(event, info="SUCCESSFUL", error="FAILED"),
        "key": hashlib.sha1(target.commit_status.encode(), usedforsecurity=False).hexdigest(),
        "name": f"{obj.kind}/{obj.name}".lower(),
        "description": description,
        "url": "https://bitbucket.org",
    }
    auth = base.basic_auth(base.Target(address="", username=username, password=password))
    url = f"{BITBUCKET_API}/repositories/{repo}/commit/{sha}/statuses/build"
    return [base.post(url, payload, auth)]


def _azure_devops(event: notification.Event, target: base.Target) -> list[base.Request]:
    """Azure DevOps: a commit status on ``<host>/<org>/<project>/_git/<repo>``, PAT auth."""
    if not target.token:
        # NB: Flux falls back to a workload identity token here; Headwater has none.
        raise base.NotifierError("azure devops token cannot be empty")
    host, repo = git_address(target.address)
    if not target.commit_status:
        raise base.NotifierError("commit status cannot be empty")
    parts = repo.split("/")
    if len(parts) != 4:
        raise base.NotifierError(f"invalid repository id {repo!r}")
    # NB: the address path is percent-encoded; each part is encoded once in the URL.
    org, project, _, name = (urllib.parse.unquote(part) for part in parts)
    if event.reason == PROGRESSING_REASON:
        return []
    sha, description = _commit_status(event, target)
    summary = (event.metadata or {}).get("summary")
    payload = {
        "state": _state(event, info="succeeded", error="error"),
        "description": description,
        "context": {
            "genre": f"{AZURE_DEVOPS_GENRE}:{summary}" if summary else AZURE_DEVOPS_GENRE,
            "name": target.commit_status,
        },
    }
    url = (
        f"{host}/{urllib.parse.quote(org)}/{urllib.parse.quote(project)}/_apis/git/repositories/"
        f"{urllib.parse.quote(name)}/commits/{sha}/statuses"
        f"?api-version={AZURE_DEVOPS_API_VERSION}"
    )
    auth = base.basic_auth(base.Target(address="", password=target.token))
    return [base.post(url, payload, auth)]


def _github_dispatch(event: notification.Event, target: base.Target) -> list[base.Request]:
    host, repo = owner_repo(target, "GitHub")
    obj = event.involved_object
    payload = {
        "event_type": f"{obj.kind}/{obj.name}.{obj.namespace}",
        "client_payload": base.event_json(event),
    }
    url = f"{github_api(host)}/repos/{repo}/dispatches"
    return [base.post(url, payload, github_headers(target))]


NOTIFIERS: dict[str, base.Notifier] = {
    "github": _github,
    "gitlab": _gitlab,
    "gitea": _gitea,
    "bitbucketserver": _bitbucket_server,
    "bitbucket": _bitbucket,
    "azuredevops": _azure_devops,
    "githubdispatch": _github_dispatch,
}
