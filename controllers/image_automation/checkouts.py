"""Where an automation run starts and which branch it pushes: ``spec.git.checkout.ref``, pure.

Contract: ``plan(ref)`` validates a GitRepositoryRef (the automation's
``spec.git.checkout.ref``, else the GitRepository's ``spec.ref``) with
Flux's precedence — commit > name > semver > tag > branch, ``master`` when
nothing is set — and returns a ``Checkout`` or raises ``InvalidCheckoutError``.
``push_branch(checkout, spec_branch)`` is the branch the run commits on:
``spec.git.push.branch``, else the checkout's branch; a tag, semver range,
name or bare commit has none, so it needs ``push.branch`` (Flux refuses it
the same way). ``resolve(checkout, listing)`` picks the object to start from
in an ls-remote listing (full ref name → object id), or raises
``RefNotFoundError``. No I/O.

An annotated tag resolves to the tag object; the run peels it in its clone.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Literal

from shared.api import semverranges, source

DEFAULT_BRANCH = "master"
HEADS = "refs/heads/"
TAGS = "refs/tags/"
PEELED_SUFFIX = "^{}"
_SHA1 = re.compile(r"[0-9a-f]{40}")

Kind = Literal["branch", "tag", "semver", "name", "commit"]


class InvalidCheckoutError(ValueError):
    """The reference cannot be checked out or pushed from; the automation stalls."""


class RefNotFoundError(LookupError):
    """The remote has no object for the reference."""


@dataclasses.dataclass(frozen=True)
class Checkout:
    """A validated checkout reference: its kind, value and (commit, branch) its branch."""

    kind: Kind
    value: str
    """The branch, tag, range text, full ref name or commit id."""
    branch: str | None = None
    """The branch name: the value of a ``branch``, the branch given with a ``commit``."""
    constraint: semverranges.Constraint | None = None


@dataclasses.dataclass(frozen=True)
class Start:
    """The resolved checkout: the object to start from and the revision it stands for."""

    ref: str | None
    """The full ref name, None for a bare commit."""
    target: str
    """The commit, or an annotated tag object that peels to it."""
    revision_name: str | None
    """The name in ``<name>@sha1:<commit>`` (None for a bare commit: ``sha1:<commit>``)."""

    def revision(self, commit: str) -> str:
        """Flux's revision of the checked-out ``commit``."""
        return f"{self.revision_name}@sha1:{commit}" if self.revision_name else f"sha1:{commit}"


def plan(ref: source.GitRepositoryRef | None) -> Checkout:
    """Apply the precedence and validate the chosen field (see the module docstring)."""
    if ref is not None and ref.commit:
        commit = ref.commit.strip().lower()
        if not _SHA1.fullmatch(commit):
            raise InvalidCheckoutError(
                f"checkout commit {ref.commit!r} is not a full commit id (40 hex digits)"
            )
        return Checkout(kind="commit", value=commit, branch=ref.branch or None)
    if ref is not None and ref.name:
        if not ref.name.startswith("refs/"):
            raise InvalidCheckoutError(
                f"checkout name {ref.name!r} is not a full reference (refs/heads/…, refs/tags/…)"
            )
        return Checkout(kind="name", value=ref.name)
    if ref is not None and ref.semver:
        try:
            constraint = semverranges.parse(ref.semver)
        except ValueError as error:
            raise InvalidCheckoutError(f"checkout semver: {error}") from error
        return Checkout(kind="semver", value=ref.semver, constraint=constraint)
    if ref is not None and ref.tag:
        return Checkout(kind="tag", value=ref.tag)
    branch = (ref.branch if ref is not None else None) or DEFAULT_BRANCH
    return Checkout(kind="branch", value=branch, branch=branch)


def push_branch(checkout: Checkout, spec_branch: str | None) -> str:
    """``spec.git.push.branch``, else the checkout's branch; InvalidCheckoutError if neither."""
    branch = spec_branch or checkout.branch
    if not branch:
        raise InvalidCheckoutError(
            "push spec not provided, and cannot be inferred from .spec.git.checkout.ref or "
            f"GitRepository .spec.ref (a {checkout.kind} checkout needs .spec.git.push.branch)"
        )
    return branch


def resolve(checkout: Checkout, listing: Mapping[str, str]) -> Start:
    """The object ``checkout`` names in ``listing``; RefNotFoundError when there is none."""
    if checkout.kind == "commit":
        if checkout.branch is not None and HEADS + checkout.branch not in listing:
            raise RefNotFoundError(f"branch {checkout.branch!r} not found")
        return Start(ref=None, target=checkout.value, revision_name=checkout.branch)
    if checkout.kind == "branch":
        return _lookup(listing, HEADS + checkout.value, checkout.value, what="branch")
    if checkout.kind == "tag":
        return _lookup(listing, TAGS + checkout.value, checkout.value, what="tag")
    if checkout.kind == "semver":
        assert checkout.constraint is not None
        names = (
            ref[len(TAGS) :]
            for ref in listing
            if ref.startswith(TAGS) and not ref.endswith(PEELED_SUFFIX)
        )
        tag = semverranges.highest(names, checkout.constraint)
        if tag is None:
            raise RefNotFoundError(f"no tag matches semver range {checkout.value!r}")
        return _lookup(listing, TAGS + tag, tag, what="tag")
    return _lookup(listing, checkout.value, checkout.value, what="reference")


def _lookup(listing: Mapping[str, str], ref: str, name: str, *, what: str) -> Start:
    target = listing.get(ref)
    if target is None:
        raise RefNotFoundError(f"{what} {name!r} not found")
    return Start(ref=ref, target=target, revision_name=name)
