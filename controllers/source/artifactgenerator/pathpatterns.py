"""``spec.pathPattern``: one set of artifacts per directory a pattern matches in a source.

``expand(path_pattern, artifacts, trees)`` returns the artifacts to build as
``Request`` s. Without a pattern, the spec's artifacts as they are. With
``@<alias>/<pattern>`` (``apps/{app}/envs/{env}``), every directory of the
alias's extracted tree whose path (relative, ``/``-separated) matches the
whole pattern, each ``{name}`` one path segment, renders every artifact:

- ``name`` with the captured values lowercased (``Auth`` → ``auth``), and
  those lowercased values become labels of the ExternalArtifact;
- ``copy[].from`` and ``copy[].to`` with the values as captured, so source
  paths keep their case.

Directories are visited in lexical order, as Flux walks them. Every
problem is a ``PatternError`` (terminal: the spec or the source's layout
must change), worded as Flux's source-watcher words it: a malformed pattern
or capture, a capture name that is no label key, a captured value that is
no label value, a rendered name that is no object name, two directories
rendering one name.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

from shared.api import source_extensions

_CAPTURE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PatternError(Exception):
    """The pattern, a template or a matched directory cannot give valid artifacts."""


@dataclasses.dataclass(frozen=True)
class Request:
    """One artifact to build, and the labels its ExternalArtifact gets from the match."""

    output: source_extensions.OutputArtifact
    labels: dict[str, str] = dataclasses.field(default_factory=dict)


def expand(
    path_pattern: str | None,
    artifacts: list[source_extensions.OutputArtifact],
    trees: dict[str, pathlib.Path],
) -> list[Request]:
    """The artifacts to build from ``trees`` (alias → extracted source)."""
    if not path_pattern:
        return [Request(output) for output in artifacts]
    alias, _, pattern = path_pattern.partition("/")
    if not alias.startswith("@") or not pattern:
        raise PatternError(f"invalid pathPattern format: {path_pattern}")
    tree = trees.get(alias.removeprefix("@"))
    if tree is None:
        raise PatternError(
            f'pathPattern "{path_pattern}": source alias {alias.removeprefix("@")} not found '
            "in local sources"
        )
    names = _captures(path_pattern, pattern)
    for name in names:
        if len(name) > 63 or not _LABEL_NAME.match(name):
            raise PatternError(
                f'pathPattern "{path_pattern}": capture variable "{name}" is not a valid '
                "Kubernetes label key"
            )
    regex = re.escape(pattern)
    for name in names:
        regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)", 1)
    matcher = re.compile(f"^{regex}$")
    requests: list[Request] = []
    seen: dict[str, str] = {}
    for relative in _directories(tree):
        found = matcher.match(relative)
        if found is None:
            continue
        raw = found.groupdict()
        lowered = {k: v.lower() for k, v in raw.items()}
        for name, value in lowered.items():
            if len(value) > 63 or not _LABEL_NAME.match(value):
                raise PatternError(
                    f'pathPattern "{path_pattern}": captured value "{value}" for variable '
                    f'"{name}" is not a valid Kubernetes label value'
                )
        for output in artifacts:
            rendered = _render_output(path_pattern, relative, output, lowered, raw)
            name = rendered.name
            if len(name) > 253 or not _OBJECT_NAME.match(name):
                raise PatternError(
                    f'pathPattern "{path_pattern}": rendered artifact name "{name}" is not a '
                    "valid Kubernetes object name"
                )
            if name in seen:
                raise PatternError(
                    f'pathPattern "{path_pattern}": directories "{seen[name]}" and '
                    f'"{relative}" both resolve to artifact name "{name}"'
                )
            seen[name] = relative
            requests.append(Request(rendered, dict(lowered)))
    return requests


def _captures(path_pattern: str, pattern: str) -> list[str]:
    """The capture names of ``pattern``, in order; ``PatternError`` on a malformed one."""
    names: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "{":
            end = pattern.find("}", i + 1)
            if end < 0:
                raise PatternError(
                    f'pathPattern "{path_pattern}": invalid capture starting at offset {i}: '
                    "missing closing brace"
                )
            name = pattern[i + 1 : end]
            if not name:
                raise PatternError(f'pathPattern "{path_pattern}": empty capture variable')
            if not _CAPTURE_NAME.match(name):
                raise PatternError(
                    f'pathPattern "{path_pattern}": capture variable "{name}" must be a valid '
                    "capture name matching [A-Za-z_][A-Za-z0-9_]*"
                )
            if name in names:
                raise PatternError(
                    f'pathPattern "{path_pattern}": duplicate capture variable "{name}"'
                )
            names.append(name)
            i = end + 1
            continue
        if pattern[i] == "}":
            raise PatternError(
                f'pathPattern "{path_pattern}": invalid capture ending at offset {i}: '
                "missing opening brace"
            )
        i += 1
    return names


def _render(template: str, values: dict[str, str]) -> str:
    """``template`` with each ``{name}`` replaced; ``PatternError`` for an unknown or bad one."""

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if not _CAPTURE_NAME.match(name):
            raise PatternError(
                f'invalid template "{template}": capture variable "{name}" must be a valid '
                "capture name matching [A-Za-z_][A-Za-z0-9_]*"
            )
        if name not in values:
            raise PatternError(
                f'invalid template "{template}": capture variable "{name}" is not defined by '
                "pathPattern"
            )
        return values[name]

    rendered = re.sub(r"\{([^{}]*)\}", replace, template)
    if "{" in rendered or "}" in rendered:
        raise PatternError(f'invalid template "{template}": unbalanced braces')
    return rendered


def _render_output(
    path_pattern: str,
    relative: str,
    output: source_extensions.OutputArtifact,
    lowered: dict[str, str],
    raw: dict[str, str],
) -> source_extensions.OutputArtifact:
    try:
        copies = [
            c.model_copy(update={"from_": _render(c.from_, raw), "to": _render(c.to, raw)})
            for c in output.copy_
        ]
        return output.model_copy(update={"name": _render(output.name, lowered), "copy_": copies})
    except PatternError as failed:
        raise PatternError(
            f'pathPattern "{path_pattern}": failed to render artifact {output.name} for match '
            f"{relative}: {failed}"
        ) from failed


def _directories(tree: pathlib.Path) -> list[str]:
    """Every directory under ``tree`` (not itself), ``/``-separated, in lexical walk order."""
    found: list[str] = []
    for root, dirs, _ in os.walk(tree):
        dirs.sort()
        for name in dirs:
            found.append(pathlib.Path(root, name).relative_to(tree).as_posix())
    return sorted(found)
