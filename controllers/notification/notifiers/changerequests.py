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

import dataclasses
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Host:
    """Where a Git host keeps a request's comments, and how it names their authors."""

    user_url: str
    user_field: str
    """The field of the authenticated user (``GET user_url``) that names it."""
    comments_url: str
    """The request's comments: listed with ``query``, created by a POST."""
    query: dict[str, Any]
    author: Callable[[dict[str, Any]], Any]
    """A listed comment's author, as ``user_field`` names the user."""
    edit_url: Callable[[Any], str]
    edit_method: str
    headers: dict[str, str]


def _comment(event: notification.Event, host: _Host, *, key: str) -> list[base.Message]:
    """Edit the user's comment holding ``key`` on the request, or create one."""
    payload = {"body": f"{key}\n\n{markdown(event)}"}

    async def run(exchange: base.Exchange) -> None:
        user = (await exchange(base.get(host.user_url, host.headers))).json()
        if not isinstance(user, dict) or not user.get(host.user_field):
            raise base.NotifierError(
                f"failed to get authenticated user info: no {host.user_field!r}"
            )
        query = urllib.parse.urlencode(host.query)
        listed = (await exchange(base.get(f"{host.comments_url}?{query}", host.headers))).json()
        if not isinstance(listed, list):
            raise base.NotifierError("unexpected answer listing comments: not a list")
        found = next(
            (
                item.get("id")
                for item in listed
                if isinstance(item, dict)
                and host.author(item) == user[host.user_field]
                and key in str(item.get("body", ""))
            ),
            None,
        )
        if found is not None:
            edit = base.post(host.edit_url(found), payload, host.headers, method=host.edit_method)
            await exchange(edit)
        else:
            await exchange(base.post(host.comments_url, payload, host.headers))

    return [base.Conversation(run)]


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
    if not target.provider_uid:
        raise base.NotifierError("provider UID cannot be empty")
    issues = f"{api}/repos/{repo}/issues"
    host = _Host(
        user_url=f"{api}/user",
        user_field="login",
        comments_url=f"{issues}/{_number(event)}/comments",
        query=query,
        author=lambda comment: (comment.get("user") or {}).get("login"),
        edit_url=lambda id_: f"{issues}/comments/{id_}",
        edit_method="PATCH",
        headers=headers,
    )
    return _comment(event, host, key=marker(PULL_REQUEST_MARKER, event, target.provider_uid))


def _github(event: notification.Event, target: base.Target) -> list[base.Message]:
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
    address, project = gitstatuses.git_address(target.address)
    api = f"{address}/api/v4"
    notes = (
        f"{api}/projects/{urllib.parse.quote(project, safe='')}/merge_requests/"
        f"{_number(event)}/notes"
    )
    host = _Host(
        user_url=f"{api}/user",
        user_field="username",
        comments_url=notes,
        query={"sort": "asc", "order_by": "created_at", "per_page": PAGE_SIZE},
        author=lambda note: (note.get("author") or {}).get("username"),
        edit_url=lambda id_: f"{notes}/{id_}",
        edit_method="PUT",
        headers={"PRIVATE-TOKEN": token},
    )
    return _comment(event, host, key=marker(MERGE_REQUEST_MARKER, event, target.provider_uid))


NOTIFIERS: dict[str, base.Notifier] = {
    "githubpullrequestcomment": _github,
    "gitlabmergerequestcomment": _gitlab,
    "giteapullrequestcomment": _gitea,
}
