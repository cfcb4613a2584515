"""Change-request comments: githubpullrequestcomment, gitlabmergerequestcomment,
giteapullrequestcomment.

The pull (or merge) request is the notification's ``change_request`` metadata
(the object's ``event.toolkit.fluxcd.io/change_request`` annotation; the
intake drops events without it). Each Flux object has at most one comment per
Provider on a request: the comment carries a hidden marker
``<!-- <prefix>:<provider UID>/<kind>/<namespace>/<name> -->``, and a
notification reads the authenticated user, lists the request's comments
(oldest first, the first 100), then edits the user's comment with the marker
or creates one. The body is the marker, then Flux's markdown: a "Flux Status"
heading, the severity emoji with ``Kind/namespace/name``, the message and the
metadata sorted by key (``change_request`` left out).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from controllers.notification.notifiers import base, gitstatuses
from shared.api import notification

CHANGE_REQUEST_KEY = "change_request"
PULL_REQUEST_MARKER = "flux-pr-comment-key"
MERGE_REQUEST_MARKER = "flux-mr-comment-key"
PAGE_SIZE = 100


def markdown(event: notification.Event) -> str:
    """Flux's markdown status of ``event``."""
    emoji = (
        "\N{WARNING SIGN}\N{VARIATION SELECTOR-16}"
        if event.severity == notification.SEVERITY_ERROR
        else "\N{INFORMATION SOURCE}\N{VARIATION SELECTOR-16}"
    )
    obj = event.involved_object
    metadata = event.metadata or {}
    lines = "".join(
        f"* `{key}`: {metadata[key]}\n" for key in sorted(metadata) if key != CHANGE_REQUEST_KEY
    )
    return (
        f"## Flux Status\n\n{emoji} {obj.kind}/{obj.namespace}/{obj.name}\n\n"
        f"{event.message}\n\nMetadata:\n{lines}"
    )


def marker(prefix: str, event: notification.Event, provider_uid: str) -> str:
    """The hidden marker that finds an object's comment again."""
    obj = event.involved_object
    return f"<!-- {prefix}:{provider_uid}/{obj.kind}/{obj.namespace}/{obj.name} -->"


def _number(event: notification.Event) -> int:
    value = (event.metadata or {}).get(CHANGE_REQUEST_KEY)
    if value is None:
        raise base.NotifierError(f'missing "{CHANGE_REQUEST_KEY}" metadata key')
    try:
        return int(value)
    except ValueError as error:
        raise base.NotifierError(
            f'invalid "{CHANGE_REQUEST_KEY}" metadata value "{value}": {error}'
        ) from error


def _find(items: Any, *, author: Callable[[dict[str, Any]], Any], user: str, key: str) -> Any:
    """The id of the first item by ``user`` whose body holds ``key``, else None."""
    if not isinstance(items, list):
        raise base.NotifierError("unexpected answer listing comments: not a list")
    for item in items:
        if isinstance(item, dict) and author(item) == user and key in str(item.get("body", "")):
            return item.get("id")
    return None


def _login(answer: base.Response, field: str) -> str:
    user = answer.json()
    if not isinstance(user, dict) or not user.get(field):
        raise base.NotifierError(f"failed to get authenticated user info: no {field!r}")
    return str(user[field])


def _issue_comments(
    event: notification.Event,
    target: base.Target,
    *,
    api: str,
    repo: str,
    headers: dict[str, str],
    query: dict[str, Any],
) -> list[base.Message]:
    """GitHub and Gitea: a pull request's comments are its issue's, the user's ``login``."""
    number = _number(event)
    key = marker(PULL_REQUEST_MARKER, event, target.provider_uid)
    payload = {"body": f"{key}\n\n{markdown(event)}"}
    issue = f"{api}/repos/{repo}/issues"

    async def run(exchange: base.Exchange) -> None:
        login = _login(await exchange(base.get(f"{api}/user", headers)), "login")
        listed = await exchange(
            base.get(f"{issue}/{number}/comments?{urllib.parse.urlencode(query)}", headers)
        )
        found = _find(
            listed.json(), author=lambda c: (c.get("user") or {}).get("login"), user=login, key=key
        )
        if found is not None:
            await exchange(base.post(f"{issue}/comments/{found}", payload, headers, method="PATCH"))
        else:
            await exchange(base.post(f"{issue}/{number}/comments", payload, headers))

    return [base.Conversation(run)]


def _github(event: notification.Event, target: base.Target) -> list[base.Message]:
    if not target.provider_uid:
        raise base.NotifierError("provider UID cannot be empty")
    host, repo = gitstatuses.owner_repo(target, "GitHub")
    return _issue_comments(
        event,
        target,
        api=gitstatuses.github_api(host),
        repo=repo,
        headers=gitstatuses.github_headers(target),
        query={"sort": "created", "direction": "asc", "per_page": PAGE_SIZE},
    )


def _gitea(event: notification.Event, target: base.Target) -> list[base.Message]:
    if not target.provider_uid:
        raise base.NotifierError("provider UID cannot be empty")
    host, repo = gitstatuses.owner_repo(target, "Gitea")
    return _issue_comments(
        event,
        target,
        api=f"{host}/api/v1",
        repo=repo,
        headers={"Authorization": f"token {target.token}"} if target.token else {},
        query={"page": 1, "limit": PAGE_SIZE},
    )


def _gitlab(event: notification.Event, target: base.Target) -> list[base.Message]:
    if not target.provider_uid:
        raise base.NotifierError("provider UID cannot be empty")
    token = target.token or target.password
    if not token:
        raise base.NotifierError("gitlab token cannot be empty")
    host, project = gitstatuses.git_address(target.address)
    api, headers = f"{host}/api/v4", {"PRIVATE-TOKEN": token}
    number = _number(event)
    key = marker(MERGE_REQUEST_MARKER, event, target.provider_uid)
    payload = {"body": f"{key}\n\n{markdown(event)}"}
    notes = f"{api}/projects/{urllib.parse.quote(project, safe='')}/merge_requests/{number}/notes"

    async def run(exchange: base.Exchange) -> None:
        username = _login(await exchange(base.get(f"{api}/user", headers)), "username")
        query = urllib.parse.urlencode(
            {"sort": "asc", "order_by": "created_at", "per_page": PAGE_SIZE}
        )
        listed = await exchange(base.get(f"{notes}?{query}", headers))
        found = _find(
            listed.json(),
            author=lambda n: (n.get("author") or {}).get("username"),
            user=username,
            key=key,
        )
        if found is not None:
            await exchange(base.post(f"{notes}/{found}", payload, headers, method="PUT"))
        else:
            await exchange(base.post(notes, payload, headers))

    return [base.Conversation(run)]


NOTIFIERS: dict[str, base.Notifier] = {
    "githubpullrequestcomment": _github,
    "gitlabmergerequestcomment": _gitlab,
    "giteapullrequestcomment": _gitea,
}
