"""Electing the latest tag: Flux's tag filter and its three ordering policies, pure.

Contract: ``compile_policy(spec)`` validates an ImagePolicy's ``policy`` and
``filterTags`` and returns a ``Policy`` or raises ``InvalidPolicyError``;
``Policy.latest(tags)`` returns the elected *original* tag or raises
``NoTagError``. No I/O.

Semantics (Flux's image-reflector-controller):

- the filter keeps the tags its ``pattern`` matches (unanchored search);
  with ``extract`` the value compared is the template expanded against the
  first match (``$1``, ``${1}``, ``$name``, ``${name}``, ``$$`` as Go's
  ``Regexp.Expand``: a name is the longest run of letters, digits and
  ``_``; an unknown group expands to nothing), and the original tag is
  what gets elected;
- ``semver``: values that parse as versions (Masterminds' tolerant parser:
  ``v`` prefix, missing minor/patch) and satisfy the range; the highest wins;
- ``alphabetical``: ``asc`` elects the last value in byte order, ``desc`` the first;
- ``numerical``: every value must parse as a float (else the whole
  evaluation fails, as Flux's ``strconv.ParseFloat``); ``asc`` elects the
  largest, ``desc`` the smallest.

Patterns are RE2 (``regexes``), the syntax Go's ``regexp`` accepts,
matched in linear time: a hostile pattern cannot stall the controller.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import Any

from controllers.image_reflector import regexes
from shared.api import image, semverranges

_EXPAND_RE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


class InvalidPolicyError(ValueError):
    """The policy or the filter cannot be used; the ImagePolicy stalls until it changes."""


class NoTagError(ValueError):
    """No tag survived the filter and the policy."""


def compile_regex(pattern: str) -> regexes.Regex:
    """An RE2 regex, or ``InvalidPolicyError`` naming the pattern."""
    try:
        return regexes.compile(pattern)
    except regexes.error as error:
        raise InvalidPolicyError(
            f"invalid regular expression pattern '{pattern}': {error}"
        ) from error


def compile_template(template: str, pattern: regexes.Regex) -> tuple[str | int, ...]:
    """``template`` as literal text (str) and group numbers (int) of ``pattern``.

    A reference to a group ``pattern`` lacks becomes nothing, as in Go.
    """
    parts: list[str | int] = []
    last = 0
    for found in _EXPAND_RE.finditer(template):
        parts.append(template[last : found.start()])
        name = found.group(1) or found.group(2)
        if name is None:
            parts.append("$")
        elif name.isdigit():
            parts.append(int(name) if int(name) <= pattern.groups else "")
        else:
            parts.append(pattern.groupindex.get(name, ""))
        last = found.end()
    parts.append(template[last:])
    return tuple(part for part in parts if part != "")


def _render(parts: tuple[str | int, ...], groups: list[str | None]) -> str:
    """Go's ``Regexp.Expand`` of a compiled template against a match's ``groups``."""
    return "".join(part if isinstance(part, str) else (groups[part] or "") for part in parts)


_MISSING: Any = object()


class Memo:
    """Per-item results kept from one evaluation to the next, for one ImagePolicy.

    ``map(signature, items, compute)`` returns ``{item: compute(item)}``,
    reusing the results of the previous call when its ``signature`` (what
    produced them: pattern, extract, range) is the same. Only the items of
    the latest call are kept, so a memo never outgrows one tag list. After a
    scan that added a tag, an evaluation computes one result, not 10,000.
    """

    def __init__(self) -> None:
        self._signature: object = _MISSING
        self._results: dict[str, Any] = {}

    def map(
        self, signature: object, items: Iterable[str], compute: Callable[[str], Any]
    ) -> dict[str, Any]:
        previous = self._results if signature == self._signature else {}
        results = {}
        for item in items:
            found = previous.get(item, _MISSING)
            results[item] = compute(item) if found is _MISSING else found
        self._signature, self._results = signature, results
        return results


@dataclasses.dataclass
class PolicyMemo:
    """The memos of one ImagePolicy: filtered values by tag, semver keys by value."""

    values: Memo = dataclasses.field(default_factory=Memo)
    keys: Memo = dataclasses.field(default_factory=Memo)


@dataclasses.dataclass(frozen=True)
class TagFilter:
    """``filterTags``: which tags count, and the value each is compared by."""

    pattern: regexes.Regex | None
    extract: str
    _parts: tuple[str | int, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pattern is not None:
            object.__setattr__(self, "_parts", compile_template(self.extract, self.pattern))

    def value(self, tag: str) -> str | None:
        """The value ``tag`` is compared by, or None when the pattern does not match it."""
        if self.pattern is None:
            return tag
        groups = self.pattern.search(tag)
        if groups is None:
            return None
        return _render(self._parts, groups) if self.extract else tag

    def apply(self, tags: Iterable[str], memo: Memo | None = None) -> dict[str, str]:
        """Compared value → original tag (a later tag with the same value wins, as Flux)."""
        if self.pattern is None:
            return {tag: tag for tag in tags}
        if memo is None:
            values = {tag: self.value(tag) for tag in tags}
        else:
            values = memo.map((self.pattern.pattern, self.extract), tags, self.value)
        return {value: tag for tag, value in values.items() if value is not None}


Elect = Callable[[list[str], PolicyMemo], str | None]


def _semver(range_: str) -> Elect:
    try:
        constraint = semverranges.parse(range_)
    except ValueError as error:
        raise InvalidPolicyError(f"invalid semver range '{range_}': {error}") from error

    def latest(values: list[str], memo: PolicyMemo) -> str | None:
        # Highest version first (the earliest tag among equal versions), then
        # the range is checked only until one version satisfies it: a
        # semver.Version is built for a few tags, not for all of them.
        keys = memo.keys.map("semver", values, semverranges.precedence_key)
        keyed = [
            (key, -index, value)
            for index, value in enumerate(values)
            if (key := keys[value]) is not None
        ]
        keyed.sort(reverse=True)
        for _, _, value in keyed:
            version = semverranges.parse_version(value)
            if version is not None and constraint.allows(version):
                return value
        return None

    return latest


def _alphabetical(order: str) -> Elect:
    def latest(values: list[str], _: PolicyMemo) -> str | None:
        if not values:
            return None
        return max(values) if order == "asc" else min(values)

    return latest


def _numerical(order: str) -> Elect:
    def latest(values: list[str], _: PolicyMemo) -> str | None:
        numbers = []
        for value in values:
            try:
                numbers.append((float(value), value))
            except ValueError:
                raise NoTagError(f"failed to parse invalid numeric value '{value}'") from None
        if not numbers:
            return None
        chosen = max(numbers) if order == "asc" else min(numbers)
        return chosen[1]

    return latest


@dataclasses.dataclass(frozen=True)
class Policy:
    """A compiled ImagePolicy rule: filter, then elect."""

    filter: TagFilter
    elect: Elect

    def latest(self, tags: Iterable[str], memo: PolicyMemo | None = None) -> str:
        """The elected original tag; ``NoTagError`` when none qualifies.

        ``memo``: the policy's memo from its previous evaluation (see ``Memo``).
        """
        memo = memo if memo is not None else PolicyMemo()
        values = self.filter.apply(tags, memo.values)
        chosen = self.elect(list(values), memo)
        if chosen is None:
            raise NoTagError("unable to determine latest version from provided list")
        return values[chosen]


def compile_policy(spec: image.ImagePolicySpec) -> Policy:
    """Check ``spec.policy`` and ``spec.filterTags``; semver, else alphabetical, else numerical."""
    choice = spec.policy
    elect: Elect
    if choice.semver is not None:
        elect = _semver(choice.semver.range)
    elif choice.alphabetical is not None:
        elect = _alphabetical(choice.alphabetical.order)
    elif choice.numerical is not None:
        elect = _numerical(choice.numerical.order)
    else:
        raise InvalidPolicyError("no policy given: set one of semver, alphabetical or numerical")
    tags = spec.filter_tags
    pattern = compile_regex(tags.pattern) if tags is not None and tags.pattern else None
    extract = (tags.extract or "") if tags is not None else ""
    return Policy(filter=TagFilter(pattern=pattern, extract=extract), elect=elect)
