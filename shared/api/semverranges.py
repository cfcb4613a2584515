"""Semver ranges in the Masterminds/semver v3 syntax Flux uses for ``ref.semver``.

Contract: ``parse(text)`` returns a ``Constraint`` or raises ``ValueError``;
``Constraint.allows(version)`` decides one version; ``parse_version(tag)``
reads a tag the way Masterminds' tolerant ``NewVersion`` does (optional ``v``,
missing minor/patch read as 0) and returns None for anything else;
``highest(names, constraint)`` picks the name of the highest allowed version
(Git tags for a ``ref.semver`` checkout).

Grammar: alternatives separated by ``||``; inside one, comparisons separated by
commas or spaces (all must hold). A comparison is an optional operator
(``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=``/``=<``, ``~``/``~>``, ``^``) and a
version in which ``x``, ``X`` or ``*`` (or an omitted part) is a wildcard;
``A - B`` is the inclusive range. Semantics follow Masterminds:

- ``1.2.x``, ``1.2``, ``~1.2`` mean ``>=1.2.0 <1.3.0``; ``1``, ``1.x``, ``~1`` mean ``>=1 <2``;
- ``^1.2.3`` is ``>=1.2.3 <2``; ``^0.2.3`` is ``>=0.2.3 <0.3``; ``^0.0.3`` is ``=0.0.3``;
- ``>1.2`` is ``>=1.3.0`` (wildcards round up for ``>``), ``<=1.2`` is ``<1.3.0``;
- ``*`` matches every release;
- a pre-release version matches a comparison only when that comparison's own
  version has a pre-release part (so ``>=1`` never selects ``2.0.0-rc.1``).

Versions are ``semver.Version`` (PyPI ``semver``); precedence is SemVer 2.0's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable

import semver

_VERSION_RE = re.compile(
    r"v?(?P<major>0|[1-9][0-9]*|[0-9]+)(?:\.(?P<minor>[0-9]+))?(?:\.(?P<patch>[0-9]+))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_WILD = r"[xX*]|[0-9]+"
_RANGE_VERSION = (
    rf"v?(?:{_WILD})(?:\.(?:{_WILD}))?(?:\.(?:{_WILD}))?"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_RANGE_VERSION_PARTS = re.compile(
    rf"v?(?P<major>{_WILD})(?:\.(?P<minor>{_WILD}))?(?:\.(?P<patch>{_WILD}))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-.]+))?"
)
_HYPHEN_RE = re.compile(rf"\s*({_RANGE_VERSION})\s+-\s+({_RANGE_VERSION})\s*")
# NB: a version ends at a separator; Masterminds reads "1x" as one malformed
# version, not as "1" followed by "x".
_COMPARISON_RE = re.compile(
    rf"\s*(!=|>=|=>|<=|=<|~>|~|\^|=|>|<)?\s*({_RANGE_VERSION})(?![0-9A-Za-z*.+-])\s*,?"
)


def parse_version(text: str) -> semver.Version | None:
    """A tag as a version (``v1.2`` → 1.2.0), or None when it is not one."""
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    return semver.Version(
        major=int(match["major"]),
        minor=int(match["minor"] or 0),
        patch=int(match["patch"] or 0),
        prerelease=match["pre"],
        build=match["build"],
    )


PrecedenceKey = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


def precedence_key(text: str) -> PrecedenceKey | None:
    """A key that orders tags as SemVer 2.0 precedence orders their versions, or None.

    Cheaper than ``parse_version`` (no ``semver.Version``), for sorting many
    tags: a release ranks above its pre-releases, numeric identifiers compare
    as numbers and below alphanumeric ones, a shorter identifier list ranks
    lower, build metadata is ignored.
    """
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    pre = match["pre"]
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in (pre or "").split(".")
    )
    return (
        int(match["major"]),
        int(match["minor"] or 0),
        int(match["patch"] or 0),
        0 if pre else 1,
        identifiers if pre else (),
    )


@dataclasses.dataclass(frozen=True)
class _Comparison:
    operator: str
    version: semver.Version
    dirty: bool
    """Some part of the version was a wildcard or omitted."""
    minor_dirty: bool
    patch_dirty: bool

    def allows(self, version: semver.Version) -> bool:
        if version.prerelease and not self.version.prerelease:
            return False
        return _OPERATORS[self.operator](self, version)


def _is_wild(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


def _comparison(operator: str | None, text: str) -> _Comparison:
    match = _RANGE_VERSION_PARTS.fullmatch(text)
    if match is None:  # pragma: no cover - the caller's regex already matched
        raise ValueError(f"invalid version {text!r}")
    major, minor, patch = match["major"], match["minor"], match["patch"]
    minor_dirty = patch_dirty = dirty = False
    if _is_wild(major):
        numbers = (0, 0, 0)
        dirty = True
    elif _is_wild(minor):
        numbers = (int(major), 0, 0)
        dirty = minor_dirty = True
    elif _is_wild(patch):
        numbers = (int(major), int(minor or 0), 0)
        dirty = patch_dirty = True
    else:
        numbers = (int(major), int(minor or 0), int(patch or 0))
    version = semver.Version(*numbers, prerelease=match["pre"], build=match["build"])
    return _Comparison(
        operator={"=>": ">=", "=<": "<=", "~>": "~", "": "="}.get(operator or "", operator or "="),
        version=version,
        dirty=dirty,
        minor_dirty=minor_dirty,
        patch_dirty=patch_dirty,
    )


def _tilde(c: _Comparison, v: semver.Version) -> bool:
    if v.compare(c.version) < 0:
        return False
    con = c.version
    if (con.major, con.minor, con.patch) == (0, 0, 0) and not (c.minor_dirty or c.patch_dirty):
        return True  # ``~0``/``*``: every release
    if v.major != con.major:
        return False
    return c.minor_dirty or v.minor == con.minor


def _equal(c: _Comparison, v: semver.Version) -> bool:
    return _tilde(c, v) if c.dirty else v.compare(c.version) == 0


def _not_equal(c: _Comparison, v: semver.Version) -> bool:
    con = c.version
    if c.dirty:
        if con.major != v.major:
            return True
        if c.minor_dirty:
            return False
        if con.minor != v.minor:
            return True
        if c.patch_dirty:
            return False
    return v.compare(con) != 0


def _greater(c: _Comparison, v: semver.Version) -> bool:
    con = c.version
    if not c.dirty:
        return v.compare(con) > 0
    if v.major != con.major:
        return v.major > con.major
    if c.minor_dirty:
        return False
    if c.patch_dirty:
        return v.minor > con.minor
    return False


def _less_equal(c: _Comparison, v: semver.Version) -> bool:
    con = c.version
    if not c.dirty:
        return v.compare(con) <= 0
    if v.major != con.major:
        return v.major < con.major
    if c.minor_dirty:
        return True
    if c.patch_dirty:
        return v.minor <= con.minor
    return True


def _caret(c: _Comparison, v: semver.Version) -> bool:
    con = c.version
    if v.compare(con) < 0:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_OPERATORS: dict[str, Callable[[_Comparison, semver.Version], bool]] = {
    "=": _equal,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda c, v: v.compare(c.version) < 0,
    ">=": lambda c, v: v.compare(c.version) >= 0,
    "<=": _less_equal,
    "~": _tilde,
    "^": _caret,
}


@dataclasses.dataclass(frozen=True)
class Constraint:
    """A parsed range: any alternative whose comparisons all hold."""

    text: str
    alternatives: tuple[tuple[_Comparison, ...], ...]

    def allows(self, version: semver.Version) -> bool:
        return any(all(c.allows(version) for c in group) for group in self.alternatives)


def _parse_group(text: str, *, whole: str) -> tuple[_Comparison, ...]:
    comparisons: list[_Comparison] = []
    rest = text
    while rest.strip():
        hyphen = _HYPHEN_RE.match(rest)
        if hyphen is not None:
            comparisons.append(_comparison(">=", hyphen[1]))
            comparisons.append(_comparison("<=", hyphen[2]))
            rest = rest[hyphen.end() :].lstrip().removeprefix(",")
            continue
        match = _COMPARISON_RE.match(rest)
        if match is None or match.end() == 0:
            raise ValueError(f"invalid semver constraint {whole!r} near {rest.strip()!r}")
        comparisons.append(_comparison(match[1], match[2]))
        rest = rest[match.end() :]
    if not comparisons:
        raise ValueError(f"invalid semver constraint {whole!r}: empty alternative")
    return tuple(comparisons)


def parse(text: str) -> Constraint:
    """Parse a Masterminds constraint; ValueError names the offending part."""
    if not text.strip():
        raise ValueError("empty semver constraint")
    groups = tuple(_parse_group(part, whole=text) for part in text.split("||"))
    return Constraint(text=text, alternatives=groups)


def highest(names: Iterable[str], constraint: Constraint) -> str | None:
    """The name whose version is the highest ``constraint`` allows, or None.

    Names that are no version are skipped; of equal versions (``v1.0`` and
    ``1.0.0``) the greatest name wins, so the choice does not depend on order.
    """
    best: tuple[semver.Version, str] | None = None
    for name in names:
        version = parse_version(name)
        if version is None or not constraint.allows(version):
            continue
        if (
            best is None
            or version.compare(best[0]) > 0
            or (version.compare(best[0]) == 0 and name > best[1])
        ):
            best = (version, name)
    return best[1] if best is not None else None
