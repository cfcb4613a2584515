"""Pull and merge request comments, as a local server standing in for the Git host sees them.

The server answers the user and the comment list (``webhooks.serving``'s
``replies``); each case checks the whole conversation: who am I, which
comments exist, then the edit of the object's comment or a new one.
"""

from __future__ import annotations

from typing import Any

import pytest

from controllers.notification import notifiers
from controllers.notification.notifiers import changerequests
from shared.api import notification
from tests.notification import events, webhooks

UID = "5e6f-uid"
REVISION = "main@sha1:" + "d" * 40
MARKER = f"<!-- flux-pr-comment-key:{UID}/Kustomization/flux-system/apps -->"
BODY = (
    f"{MARKER}\n\n## Flux Status\n\n\N{INFORMATION SOURCE}\N{VARIATION SELECTOR-16} "
    f"Kustomization/flux-system/apps\n\nApplied revision: {REVISION}\n\n"
    f"Metadata:\n* `revision`: {REVISION}\n* `summary`: prod\n"
)


def _event(**kwargs: Any) -> notification.Event:
    metadata = {"revision": REVISION, "summary": "prod", "change_request": "7"}
    return events.parsed(metadata=metadata, message=f"Applied revision: {REVISION}", **kwargs)


def _target(url: str) -> notifiers.Target:
    return notifiers.Target(address=url, token="tok", provider_uid=UID)


def _calls(server: webhooks.Provider) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.received]


async def test_github_creates_the_comment_when_the_object_has_none() -> None:
    async with webhooks.serving() as server:
        server.replies = {
            "/api/v3/user": {"login": "flux-bot"},
            # Another user's comment with the marker is not Flux's.
            "/api/v3/repos/org/app/issues/7/comments": [
                {"id": 1, "user": {"login": "someone"}, "body": MARKER}
            ],
        }
        await webhooks.deliver(
            notifiers.requests(
                "githubpullrequestcomment", _event(), _target(server.url + "/org/app")
            )
        )
    assert _calls(server) == [
        ("GET", "/api/v3/user"),
        ("GET", "/api/v3/repos/org/app/issues/7/comments?sort=created&direction=asc&per_page=100"),
        ("POST", "/api/v3/repos/org/app/issues/7/comments"),
    ]
    created = server.received[-1]
    assert created.headers["Authorization"] == "Bearer tok"
    assert created.json() == {"body": BODY}


async def test_github_edits_the_objects_comment() -> None:
    async with webhooks.serving() as server:
        server.replies = {
            "/api/v3/user": {"login": "flux-bot"},
            "/api/v3/repos/org/app/issues/7/comments": [
                {"id": 41, "user": {"login": "flux-bot"}, "body": "another object's"},
                {"id": 42, "user": {"login": "flux-bot"}, "body": f"{MARKER}\n\nold"},
            ],
        }
        await webhooks.deliver(
            notifiers.requests(
                "githubpullrequestcomment", _event(), _target(server.url + "/org/app")
            )
        )
    assert _calls(server)[-1] == ("PATCH", "/api/v3/repos/org/app/issues/comments/42")
    assert server.received[-1].json() == {"body": BODY}


async def test_gitlab_edits_the_note_of_the_merge_request() -> None:
    marker = MARKER.replace("flux-pr-comment-key", "flux-mr-comment-key")
    notes = "/api/v4/projects/group%2Fapp/merge_requests/7/notes"
    async with webhooks.serving() as server:
        server.replies = {
            "/api/v4/user": {"username": "bot"},
            "/api/v4/projects/group/app/merge_requests/7/notes": [
                {"id": 9, "author": {"username": "bot"}, "body": marker}
            ],
        }
        await webhooks.deliver(
            notifiers.requests(
                "gitlabmergerequestcomment", _event(), _target(server.url + "/group/app")
            )
        )
    assert _calls(server) == [
        ("GET", "/api/v4/user"),
        ("GET", f"{notes}?sort=asc&order_by=created_at&per_page=100"),
        ("PUT", f"{notes}/9"),
    ]
    edited = server.received[-1]
    assert edited.headers["PRIVATE-TOKEN"] == "tok"
    assert edited.json() == {"body": BODY.replace(MARKER, marker)}


async def test_gitea_creates_the_comment() -> None:
    async with webhooks.serving() as server:
        server.replies = {
            "/api/v1/user": {"login": "bot"},
            "/api/v1/repos/org/app/issues/7/comments": [],
        }
        await webhooks.deliver(
            notifiers.requests(
                "giteapullrequestcomment", _event(), _target(server.url + "/org/app")
            )
        )
    assert _calls(server) == [
        ("GET", "/api/v1/user"),
        ("GET", "/api/v1/repos/org/app/issues/7/comments?page=1&limit=100"),
        ("POST", "/api/v1/repos/org/app/issues/7/comments"),
    ]
    assert server.received[-1].headers["Authorization"] == "token tok"
    assert server.received[-1].json() == {"body": BODY}


def test_the_markdown_of_an_error() -> None:
    event = events.parsed(severity="error", message="Health check failed", metadata={})
    assert changerequests.markdown(event) == (
        "## Flux Status\n\n\N{WARNING SIGN}\N{VARIATION SELECTOR-16} "
        "Kustomization/flux-system/apps\n\nHealth check failed\n\nMetadata:\n"
    )


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({}, 'missing "change_request" metadata key'),
        ({"change_request": "seven"}, 'invalid "change_request" metadata value "seven"'),
    ],
)
def test_the_request_number_comes_from_the_metadata(metadata: dict[str, str], error: str) -> None:
    target = _target("https://github.com/org/app")
    with pytest.raises(notifiers.NotifierError, match=error):
        notifiers.requests("githubpullrequestcomment", events.parsed(metadata=metadata), target)
