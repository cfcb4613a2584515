"""Choosing what to check out from ``spec.ref`` and a remote's ref listing.

Contract: pure functions, no I/O. ``plan(ref)`` validates ``spec.ref`` and says
whether a remote listing is needed; ``resolve(plan, listing)`` picks the ref
from an ls-remote listing (full ref name → object id, with ``^{}`` peeled
entries for annotated tags) and returns a ``ResolvedRef``.

Precedence, highest first (Flux's): commit > name > semver > tag > branch;
with nothing set the branch is ``master``. A commit combined with a branch
means "this commit, which the branch must contain".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

from controllers.source.git import errors, revisions
from shared.api import semverranges as constraints
from shared.api import source

DEFAULT_BRANCH = "master"
HEADS = "refs/heads/"
TAGS = "refs/tags/"
PEELED_SUFFIX = "^{}"

Kind = Literal["branch", "tag", "semver", "name", "commit"]


@dataclasses.dataclass(frozen=True)
class RefPlan:
    """What ``spec.ref`` asks for, validated."""

    kind: Kind
    value: str
    """The branch, tag, constraint text, full ref name or commit id."""
    branch: str | None = None
    """For ``commit``: the branch that must contain it."""
    constraint: constraints.Constraint | None = None

    @property
    def needs_listing(self) -> bool:
        """A bare commit is known without asking the remote; every other kind is not."""
        return self.kind != "commit"


@dataclasses.dataclass(frozen=True)
class ResolvedRef:
    """A concrete object to fetch and the revision it will produce."""

    kind: Kind
    ref: str | None
    """Full ref name (``refs/heads/main``), None for a bare commit."""
    target: str
    """The object the ref points at: a commit, or an annotated tag object."""
    commit: str | None
    """The commit to check out, when the listing told it (peeled for tags)."""
    branch: str | None = None
    """For ``commit`` with a branch: the branch's full ref."""

    @property
    def revision(self) -> str | None:
        """The Flux revision this checkout will have, when the commit is known."""
        if self.commit is None:
            return None
        ref = self.ref if self.kind != "commit" else self.branch
        return revisions.format_revision(ref=ref, commit=self.commit, absolute=self.kind == "name")


def plan(ref: source.GitRepositoryRef | None) -> RefPlan:
    """Validate ``spec.ref`` and apply the precedence; RefNotFoundError on bad values."""
    if ref is not None and ref.commit:
        commit = ref.commit.strip().lower()
        if not (revisions.SHA1_HEX.fullmatch(commit) or revisions.SHA256_HEX.fullmatch(commit)):
            raise errors.RefNotFoundError(
                f"ref.commit {ref.commit!r} is not a full commit id (40 hex digits)"
            )
        return RefPlan(kind="commit", value=commit, branch=ref.branch or None)
    if ref is not None and ref.name:
        if not (ref.name.startswith("refs/") or ref.name == "HEAD"):
            raise errors.RefNotFoundError(
                f"ref.name {ref.name!r} is not a full reference (want refs/heads/…, refs/tags/…)"
            )
        return RefPlan(kind="name", value=ref.name)
    if ref is not None and ref.semver:
        try:
            constraint = constraints.parse(ref.semver)
        except ValueError as exc:
            raise errors.RefNotFoundError(f"ref.semver: {exc}") from exc
        return RefPlan(kind="semver", value=ref.semver, constraint=constraint)
    if ref is not None and ref.tag:
        return RefPlan(kind="tag", value=ref.tag)
    branch = ref.branch if ref is not None and ref.branch else DEFAULT_BRANCH
    return RefPlan(kind="branch", value=branch)


def _peeled(listing: Mapping[str, str], ref: str) -> str | None:
    """The commit an annotated tag points at, if the listing carries it."""
    return listing.get(ref + PEELED_SUFFIX)


def _lookup(listing: Mapping[str, str], ref: str, *, what: str, url: str) -> str:
    target = listing.get(ref)
    if target is None:
        raise errors.RefNotFoundError(f"{what} not found in {url}")
    return target


def _tag(listing: Mapping[str, str], name: str, *, kind: Kind, url: str) -> ResolvedRef:
    ref = TAGS + name
    target = _lookup(listing, ref, what=f"tag {name!r}", url=url)
    # NB: git always lists an annotated tag's peeled commit (``^{}``) in a v0
    # advertisement, so no peeled entry means a lightweight tag. A server that
    # omitted it would only make the pre-fetch revision differ from the stored
    # one (an extra fetch); the checkout computes the revision from the commit.
    peeled = _peeled(listing, ref) or target
    return ResolvedRef(kind=kind, ref=ref, target=target, commit=peeled)


def highest_matching_tag(
    listing: Mapping[str, str], constraint: constraints.Constraint
) -> str | None:
    """The tag name with the highest version ``constraint`` allows, or None."""
    names = (
        ref[len(TAGS) :]
        for ref in listing
        if ref.startswith(TAGS) and not ref.endswith(PEELED_SUFFIX)
    )
    return constraints.highest(names, constraint)


def resolve(request: RefPlan, listing: Mapping[str, str], *, url: str) -> ResolvedRef:
    """Pick the object to fetch; ``listing`` is the remote's refs (empty for a bare commit)."""
    if request.kind == "commit":
        branch_ref = None
        if request.branch is not None:
            branch_ref = HEADS + request.branch
            if listing:
                _lookup(listing, branch_ref, what=f"branch {request.branch!r}", url=url)
        return ResolvedRef(
            kind="commit", ref=None, target=request.value, commit=request.value, branch=branch_ref
        )
    if request.kind == "branch":
        ref = HEADS + request.value
        target = _lookup(listing, ref, what=f"branch {request.value!r}", url=url)
        return ResolvedRef(kind="branch", ref=ref, target=target, commit=target)
    if request.kind == "tag":
        return _tag(listing, request.value, kind="tag", url=url)
    if request.kind == "semver":
        assert request.constraint is not None
        name = highest_matching_tag(listing, request.constraint)
        if name is None:
            raise errors.RefNotFoundError(
                f"no tag in {url} matches semver constraint {request.value!r}"
            )
        return _tag(listing, name, kind="semver", url=url)
    target = _lookup(listing, request.value, what=f"reference {request.value!r}", url=url)
    peeled = _peeled(listing, request.value)
    return ResolvedRef(kind="name", ref=request.value, target=target, commit=peeled or target)
