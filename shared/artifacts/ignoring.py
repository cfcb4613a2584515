"""Which paths of a source tree stay out of its artifact: Flux's ignore rules.

The rules are gitignore patterns (matched with pathspec's gitignore
implementation) from three places, in increasing priority:

1. Flux's default exclusions (``VCS_PATTERNS`` then ``DEFAULT_PATTERNS``);
2. every ``.sourceignore`` file in the tree, each scoped to its own
   directory, parents before children, siblings in name order;
3. the object's ``spec.ignore``, scoped to the root.

As in Flux's source-controller, the non-VCS defaults apply only while no
pattern comes from (2) or (3): any ``.sourceignore`` pattern or ``spec.ignore``
pattern replaces them, while the VCS patterns (``.git/`` …) always stay.
An empty or comment-only ``spec.ignore`` adds no pattern, so it keeps the
defaults. Buckets apply the defaults unconditionally (``with_defaults``).

Later patterns win (a ``!negation`` re-includes). NB: an excluded directory is
not descended into, so, as in git, nothing below it can be re-included; Flux's
go-git matcher differs there by checking every file.

Paths given to a ``Matcher`` are relative POSIX paths (``dir/file.yaml``)
plus an ``is_dir`` flag. The module reads files but writes nothing.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Sequence
from typing import Final

from pathspec.patterns.gitignore import GitIgnorePatternError
from pathspec.patterns.gitignore import spec as gitignore_spec

from shared.artifacts import errors

IGNORE_FILE: Final = ".sourceignore"
VCS_PATTERNS: Final = (".git/", ".gitignore", ".gitmodules", ".gitattributes")
DEFAULT_PATTERNS: Final = (
    # images and archives
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    # CI configuration
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    # tool configuration that must not reach a cluster
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
)


@dataclasses.dataclass(frozen=True)
class Pattern:
    """One gitignore pattern scoped to a directory (``domain``, "" for the root)."""

    text: str
    domain: str
    _compiled: gitignore_spec.GitIgnoreSpecPattern = dataclasses.field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, *, domain: str = "") -> Pattern:
        """Compile one pattern line; ``domain`` is a relative POSIX directory path."""
        return cls(
            text=text, domain=domain.strip("/"), _compiled=gitignore_spec.GitIgnoreSpecPattern(text)
        )

    def excludes(self) -> bool:
        """True for an excluding pattern, False for a ``!`` negation."""
        return bool(self._compiled.include)

    def regex_source(self) -> str | None:
        """The regular expression of the pattern (None for a no-op pattern)."""
        regex = self._compiled.regex
        return None if regex is None else str(regex.pattern)


def parse_patterns(text: str, *, domain: str = "") -> list[Pattern]:
    """Patterns of a ``.sourceignore``-format text: blank and ``#`` lines skipped.

    Lines end at a line feed (a carriage return before it is dropped), as
    git and go-git read them. A line git can never match (``!`` alone, a
    trailing backslash, a bracket range whose ends are reversed such as
    ``[b-a]``) is skipped, as git skips it, rather than failing the whole
    file.
    """
    patterns = []
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if line.startswith("#") or not line.strip():
            continue
        try:
            patterns.append(Pattern.parse(line, domain=domain))
        except (GitIgnorePatternError, re.error):
            # NB: pathspec translates a reversed bracket range into a regex
            # that Python refuses; git's wildmatch simply never matches it.
            continue
    return patterns


def load_ignore_files(root: str | os.PathLike[str]) -> list[Pattern]:
    """Patterns of every ``.sourceignore`` under ``root`` (``.git`` not searched).

    Order: a directory's own file, then its subdirectories in name order,
    depth first, so deeper files take precedence. Symlinked directories are
    not followed. Raises IgnoreRulesError when a file exists but is unreadable.
    """
    patterns: list[Pattern] = []
    # NB: iterative pre-order walk (a deep hostile tree must not hit the
    # recursion limit); children are pushed in reverse to pop in name order.
    pending: list[tuple[str, str]] = [(os.fspath(root), "")]
    while pending:
        directory, domain = pending.pop()
        candidate = os.path.join(directory, IGNORE_FILE)
        try:
            with open(candidate, encoding="utf-8", errors="replace") as stream:
                patterns.extend(parse_patterns(stream.read(), domain=domain))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise errors.IgnoreRulesError(
                f"reading {_relative(domain, IGNORE_FILE)}: {exc}"
            ) from exc
        try:
            with os.scandir(directory) as listing:
                children = sorted(
                    (entry.name, entry.path)
                    for entry in listing
                    if entry.name != ".git" and entry.is_dir(follow_symlinks=False)
                )
        except OSError as exc:
            raise errors.IgnoreRulesError(f"listing {domain or '.'}: {exc}") from exc
        pending.extend((path, _relative(domain, name)) for name, path in reversed(children))
    return patterns


class Matcher:
    """Decides whether a relative path is excluded; later patterns win.

    Consecutive patterns with the same domain and polarity are merged into
    one regular expression (their relative order cannot change a decision),
    so the default set costs one regex search per path. Instances are
    immutable and safe to share between threads.
    """

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self._patterns = tuple(patterns)
        rules: list[_Rule] = []
        for pattern in reversed(self._patterns):
            regex = pattern.regex_source()
            if regex is None:
                continue
            include = pattern.excludes()
            if rules and rules[-1].domain == pattern.domain and rules[-1].excludes == include:
                rules[-1].sources.append(regex)
            else:
                rules.append(_Rule(domain=pattern.domain, excludes=include, sources=[regex]))
        self._rules = tuple(rule.compile() for rule in rules)

    @property
    def patterns(self) -> Sequence[Pattern]:
        """The patterns in priority order (lowest first)."""
        return self._patterns

    def __call__(self, path: str, is_dir: bool) -> bool:
        """True when ``path`` (relative POSIX, no leading ``./``) is excluded."""
        candidate = path + "/" if is_dir else path
        for prefix, excludes, regex in self._rules:
            if prefix:
                if not candidate.startswith(prefix):
                    continue
                subject = candidate[len(prefix) :]
            else:
                subject = candidate
            if regex.search(subject) is not None:
                return excludes
        return False


@dataclasses.dataclass
class _Rule:
    domain: str
    excludes: bool
    sources: list[str]

    def compile(self) -> tuple[str, bool, re.Pattern[str]]:
        # NB: pathspec names a group in every regex; names must be unique in
        # one expression, and only the match itself matters here.
        merged = "|".join(f"(?:{_NAMED_GROUP.sub('(?:', source)})" for source in self.sources)
        prefix = self.domain + "/" if self.domain else ""
        return prefix, self.excludes, re.compile(merged)


_NAMED_GROUP: Final = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


def default_patterns() -> list[Pattern]:
    """Flux's VCS and default exclusions, scoped to the root."""
    return [Pattern.parse(text) for text in (*VCS_PATTERNS, *DEFAULT_PATTERNS)]


def source_matcher(
    root: str | os.PathLike[str], *, spec_ignore: str | None, with_defaults: bool = False
) -> Matcher:
    """The matcher Flux applies when archiving ``root`` for a Git or OCI source.

    ``spec_ignore`` is the object's ``spec.ignore`` (None when absent).
    ``with_defaults=True`` keeps the default exclusions even when other
    patterns exist (Bucket semantics).
    """
    patterns = load_ignore_files(root)
    if spec_ignore is not None:
        patterns.extend(parse_patterns(spec_ignore))
    if with_defaults or not patterns:
        return Matcher([*default_patterns(), *patterns])
    vcs = [Pattern.parse(text) for text in VCS_PATTERNS]
    return Matcher([*vcs, *patterns])


def _relative(domain: str, name: str) -> str:
    return f"{domain}/{name}" if domain else name
