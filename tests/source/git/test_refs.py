"""Ref resolution from an ls-remote listing: Flux's precedence, semver over tags, errors."""

from __future__ import annotations

import pytest

from controllers.source.git import errors, refs
from shared.api import source, source_conditions

C1 = "1" * 40
C2 = "2" * 40
C3 = "3" * 40
T1 = "a" * 40
T2 = "b" * 40

LISTING = {
    "HEAD": C1,
    "refs/heads/master": C1,
    "refs/heads/main": C2,
    "refs/heads/feature/x": C3,
    "refs/tags/v1.0.0": C1,  # lightweight
    "refs/tags/v1.2.0": T1,  # annotated
    "refs/tags/v1.2.0^{}": C2,
    "refs/tags/v2.0.0-rc.1": T2,
    "refs/tags/v2.0.0-rc.1^{}": C3,
    "refs/tags/latest": C3,
    "refs/pull/1/head": C3,
}
URL = "https://example.invalid/repo.git"


def _resolve(**ref: str) -> refs.ResolvedRef:
    spec_ref = source.GitRepositoryRef(**ref) if ref else None
    return refs.resolve(refs.plan(spec_ref), LISTING, url=URL)


@pytest.mark.parametrize(
    ("ref", "kind", "revision"),
    [
        ({}, "branch", f"master@sha1:{C1}"),
        ({"branch": "main"}, "branch", f"main@sha1:{C2}"),
        ({"branch": "feature/x"}, "branch", f"feature/x@sha1:{C3}"),
        ({"tag": "v1.0.0"}, "tag", f"v1.0.0@sha1:{C1}"),
        ({"tag": "v1.2.0"}, "tag", f"v1.2.0@sha1:{C2}"),
        ({"semver": ">=1 <2"}, "semver", f"v1.2.0@sha1:{C2}"),
        ({"semver": "~1.0"}, "semver", f"v1.0.0@sha1:{C1}"),
        ({"semver": ">=2.0.0-0"}, "semver", f"v2.0.0-rc.1@sha1:{C3}"),
        ({"name": "refs/heads/main"}, "name", f"refs/heads/main@sha1:{C2}"),
        ({"name": "refs/pull/1/head"}, "name", f"refs/pull/1/head@sha1:{C3}"),
        ({"name": "refs/tags/v1.2.0"}, "name", f"refs/tags/v1.2.0@sha1:{C2}"),
        ({"commit": C3}, "commit", f"sha1:{C3}"),
        ({"commit": C3, "branch": "main"}, "commit", f"main@sha1:{C3}"),
    ],
)
def test_each_ref_kind_resolves_to_flux_revision(
    ref: dict[str, str], kind: str, revision: str
) -> None:
    resolved = _resolve(**ref)
    assert resolved.kind == kind
    assert resolved.revision == revision


@pytest.mark.parametrize(
    ("ref", "kind"),
    [
        ({"commit": C3, "name": "refs/heads/main", "semver": "*", "tag": "v1", "branch": "main"},
         "commit"),
        ({"name": "refs/heads/main", "semver": "*", "tag": "v1.0.0", "branch": "main"}, "name"),
        ({"semver": "*", "tag": "v1.0.0", "branch": "main"}, "semver"),
        ({"tag": "v1.0.0", "branch": "main"}, "tag"),
    ],
)  # fmt: skip
def test_precedence_commit_name_semver_tag_branch(ref: dict[str, str], kind: str) -> None:
    assert _resolve(**ref).kind == kind


def test_annotated_tag_fetches_the_tag_object_but_revision_names_the_commit() -> None:
    resolved = _resolve(tag="v1.2.0")
    assert resolved.target == T1
    assert resolved.commit == C2


def test_bare_commit_needs_no_listing() -> None:
    plan = refs.plan(source.GitRepositoryRef(commit=C2))
    assert not plan.needs_listing
    assert refs.resolve(plan, {}, url=URL).revision == f"sha1:{C2}"


def test_semver_ignores_non_version_tags_and_picks_highest() -> None:
    listing = {"refs/tags/latest": C1, "refs/tags/v0.9.0": C1, "refs/tags/0.10.0": C2}
    plan = refs.plan(source.GitRepositoryRef(semver="<1"))
    assert refs.resolve(plan, listing, url=URL).ref == "refs/tags/0.10.0"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"branch": "nope"}, "branch 'nope' not found in https://example.invalid/repo.git"),
        ({"tag": "v9"}, "tag 'v9' not found"),
        ({"semver": ">=5"}, "no tag in https://example.invalid/repo.git matches semver"),
        ({"name": "refs/heads/nope"}, "reference 'refs/heads/nope' not found"),
        ({"commit": C1, "branch": "nope"}, "branch 'nope' not found"),
    ],
)
def test_missing_ref_is_a_readable_error(ref: dict[str, str], message: str) -> None:
    with pytest.raises(errors.RefNotFoundError, match=message) as info:
        _resolve(**ref)
    assert info.value.reason == source_conditions.GIT_OPERATION_FAILED_REASON


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"commit": "abc123"}, "not a full commit id"),
        ({"name": "main"}, "not a full reference"),
        ({"semver": ">=1 junk"}, "ref.semver: invalid semver constraint"),
    ],
)
def test_invalid_ref_values_are_refused_before_any_io(ref: dict[str, str], message: str) -> None:
    with pytest.raises(errors.RefNotFoundError, match=message):
        refs.plan(source.GitRepositoryRef(**ref))
