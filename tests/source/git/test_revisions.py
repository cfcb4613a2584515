"""Flux revision strings and commit facts for events."""

from __future__ import annotations

import pytest

from controllers.source.git import revisions

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("ref", "absolute", "expected"),
    [
        ("refs/heads/main", False, f"main@sha1:{SHA}"),
        ("refs/tags/v1.2.0", False, f"v1.2.0@sha1:{SHA}"),
        ("refs/heads/feature/x", False, f"feature/x@sha1:{SHA}"),
        ("refs/heads/x", True, f"refs/heads/x@sha1:{SHA}"),
        (None, False, f"sha1:{SHA}"),
    ],
)
def test_format_revision(ref: str | None, absolute: bool, expected: str) -> None:
    assert revisions.format_revision(ref=ref, commit=SHA, absolute=absolute) == expected


@pytest.mark.parametrize(
    ("revision", "name"),
    [(f"main@sha1:{SHA}", "main"), (f"refs/pull/1/head@sha1:{SHA}", "refs/pull/1/head"),
     (f"sha1:{SHA}", None)],
)  # fmt: skip
def test_parse_revision_round_trips(revision: str, name: str | None) -> None:
    parsed = revisions.parse_revision(revision)
    assert parsed is not None
    assert (parsed.name, parsed.algorithm, parsed.commit) == (name, "sha1", SHA)


@pytest.mark.parametrize("revision", [f"main/{SHA}", "main@sha1:xyz", "", "main@md5:" + SHA])
def test_parse_revision_rejects_other_formats(revision: str) -> None:
    assert revisions.parse_revision(revision) is None


def _commit(message: str) -> revisions.CommitInfo:
    person = revisions.Signature(name="Ada", email="ada@example.com", time=0, offset=0)
    return revisions.CommitInfo(
        sha=SHA, revision=f"main@sha1:{SHA}", message=message, author=person, committer=person
    )


def test_event_carries_subject_and_author() -> None:
    commit = _commit("Fix the frobnicator\n\nLong body.\n")
    assert commit.subject == "Fix the frobnicator"
    assert commit.event_message() == "stored artifact for commit 'Fix the frobnicator'"
    assert commit.event_metadata() == {
        "revision": f"main@sha1:{SHA}",
        "commit.subject": "Fix the frobnicator",
        "commit.author": "Ada <ada@example.com>",
    }


def test_short_message_is_cut_at_fifty_characters() -> None:
    commit = _commit("x" * 60)
    assert commit.short_message == "x" * 50 + "..."
