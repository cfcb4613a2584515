"""``checkouts``: Flux's checkout precedence, the push branch, and resolving against a listing."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.image_automation import checkouts
from shared.api import source

C1, C2, C3, TAG_OBJECT = "1" * 40, "2" * 40, "3" * 40, "4" * 40
LISTING = {
    "HEAD": C1,
    "refs/heads/main": C1,
    "refs/heads/auto": C2,
    "refs/tags/v1.0.0": C2,
    "refs/tags/v1.2.0": TAG_OBJECT,
    "refs/tags/v1.2.0^{}": C3,
    "refs/tags/v2.0.0-rc.1": C3,
    "refs/tags/latest": C3,
    "refs/pull/7/head": C3,
}


def _plan(**ref: Any) -> checkouts.Checkout:
    return checkouts.plan(source.GitRepositoryRef.model_validate(ref) if ref else None)


@pytest.mark.parametrize(
    ("ref", "kind", "value", "branch"),
    [
        ({}, "branch", "master", "master"),
        ({"branch": "main"}, "branch", "main", "main"),
        ({"branch": "main", "tag": "v1.0.0"}, "tag", "v1.0.0", None),
        ({"tag": "v1.0.0", "semver": "1.x"}, "semver", "1.x", None),
        ({"semver": "1.x", "name": "refs/pull/7/head"}, "name", "refs/pull/7/head", None),
        ({"name": "refs/tags/latest", "commit": C2.upper(), "branch": "main"}, "commit", C2,
         "main"),
    ],
    ids=["default", "branch", "tag-over-branch", "semver-over-tag", "name-over-semver",
         "commit-over-all"],
)  # fmt: skip
def test_the_precedence_is_commit_name_semver_tag_branch(
    ref: dict[str, str], kind: str, value: str, branch: str | None
) -> None:
    checkout = _plan(**ref)
    assert (checkout.kind, checkout.value, checkout.branch) == (kind, value, branch)


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ({"commit": "abc"}, "not a full commit id"),
        ({"name": "pull/7/head"}, "not a full reference"),
        ({"semver": ">=x.y"}, "checkout semver"),
    ],
)
def test_invalid_references_are_refused(ref: dict[str, str], error: str) -> None:
    with pytest.raises(checkouts.InvalidCheckoutError, match=error):
        _plan(**ref)


def test_the_push_branch_is_the_spec_s_else_the_checkout_branch() -> None:
    assert checkouts.push_branch(_plan(branch="main"), None) == "main"
    assert checkouts.push_branch(_plan(branch="main"), "auto") == "auto"
    assert checkouts.push_branch(_plan(commit=C1, branch="main"), None) == "main"
    assert checkouts.push_branch(_plan(tag="v1.0.0"), "auto") == "auto"
    for ref in ({"tag": "v1.0.0"}, {"semver": "1.x"}, {"name": "refs/pull/7/head"},
                {"commit": C1}):  # fmt: skip
        with pytest.raises(checkouts.InvalidCheckoutError, match="push spec not provided"):
            checkouts.push_branch(_plan(**ref), None)


@pytest.mark.parametrize(
    ("ref", "target", "revision"),
    [
        ({"branch": "main"}, C1, f"main@sha1:{C3}"),
        ({"tag": "v1.0.0"}, C2, f"v1.0.0@sha1:{C3}"),
        ({"semver": "1.x"}, TAG_OBJECT, f"v1.2.0@sha1:{C3}"),
        ({"semver": ">=2.0.0-0"}, C3, f"v2.0.0-rc.1@sha1:{C3}"),
        ({"name": "refs/pull/7/head"}, C3, f"refs/pull/7/head@sha1:{C3}"),
        ({"commit": C1}, C1, f"sha1:{C3}"),
        ({"commit": C1, "branch": "main"}, C1, f"main@sha1:{C3}"),
    ],
    ids=["branch", "tag", "semver-annotated", "semver-prerelease", "name", "commit",
         "commit-on-branch"],
)  # fmt: skip
def test_a_checkout_resolves_to_its_object_and_revision(
    ref: dict[str, str], target: str, revision: str
) -> None:
    start = checkouts.resolve(_plan(**ref), LISTING)
    assert start.target == target
    assert start.revision(C3) == revision


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ({"branch": "gone"}, "branch 'gone' not found"),
        ({"tag": "v9"}, "tag 'v9' not found"),
        ({"semver": ">=3"}, "no tag matches semver range '>=3'"),
        ({"name": "refs/heads/gone"}, "reference 'refs/heads/gone' not found"),
        ({"commit": C1, "branch": "gone"}, "branch 'gone' not found"),
    ],
)
def test_a_missing_reference_is_not_found(ref: dict[str, str], error: str) -> None:
    with pytest.raises(checkouts.RefNotFoundError, match=error):
        checkouts.resolve(_plan(**ref), LISTING)
