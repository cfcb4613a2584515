"""The Setters update strategy: rewrite YAML fields marked with image policy setter comments.

A field is marked by a line comment right after its scalar value::

    image: ghcr.io/org/app:1.0.0 # {"$imagepolicy": "apps:app"}
    newTag: 1.0.0 # {"$imagepolicy": "apps:app:tag"}

The setter name is ``<namespace>:<name>`` of an ImagePolicy, optionally
followed by ``:tag``, ``:name`` or ``:digest``; the field gets the policy's
``status.latestRef`` as ``name:tag`` (``name:tag@digest`` when a digest is
known), or just the named part. Policies without a ``latestRef`` define no
setters, and a ``:digest`` setter is skipped while the policy knows no digest
(so a field never becomes empty), so their markers are left alone.

Only the bytes of a changed value are rewritten: the rest of the file, its
comments, indentation, quoting and other documents, stays byte for byte. A
value keeps its quoting style; a plain value that would no longer read as a
string (``1.0``, ``true``) is double-quoted, as Flux does.

Which files are read follows Flux: files named ``*.yaml``, ``*.yml`` or
``Kustomization`` under the update path that contain the ``"$imagepolicy"``
token; a file that is not valid YAML is skipped and reported in
``Result.problem_files``. This module does no I/O beyond the files under the
directory it is given.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re

import yaml

from shared.api import image

MARKER_KEY = "$imagepolicy"
"""The key of the JSON object in a setter comment."""

_TOKEN = json.dumps(MARKER_KEY)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's loader when PyYAML has it (about ten times faster); its marks are the
same character indices as the pure-Python loader's, which the edits rely on."""
_YAML_SUFFIXES = (".yaml", ".yml")
_KUSTOMIZATION_FILE = "Kustomization"
_COMMENT = re.compile(r"[ \t]+#[ \t]?(?P<json>\{.*\})[ \t]*$")
_PLAIN_UNSAFE = re.compile(r"^[-?:,\[\]{}#&*!|>'\"%@`\s]|: | #|[\n\r\t]|\s$")


@dataclasses.dataclass(frozen=True, order=True)
class ObjectIdentifier:
    """The object a change was made in; empty fields when absent (e.g. kustomization.yaml)."""

    api_version: str = ""
    kind: str = ""
    name: str = ""
    namespace: str = ""


@dataclasses.dataclass(frozen=True)
class Change:
    """One field rewritten by one setter."""

    old_value: str
    new_value: str
    setter: str


@dataclasses.dataclass
class Result:
    """The changes made, by file (relative to the update path, with /) then by object."""

    file_changes: dict[str, dict[ObjectIdentifier, list[Change]]] = dataclasses.field(
        default_factory=dict
    )
    problem_files: list[str] = dataclasses.field(default_factory=list)
    """Files that carry the marker token but are not valid YAML; left untouched."""

    def add(self, file: str, obj: ObjectIdentifier, change: Change) -> None:
        """Record ``change`` made in ``obj`` of ``file``."""
        self.file_changes.setdefault(file, {}).setdefault(obj, []).append(change)

    def objects(self) -> dict[ObjectIdentifier, list[Change]]:
        """The changes by object, whichever file the object is in."""
        merged: dict[ObjectIdentifier, list[Change]] = {}
        for objects in self.file_changes.values():
            for obj, changes in objects.items():
                merged.setdefault(obj, []).extend(changes)
        return merged

    def changes(self) -> list[Change]:
        """Every change, in file then object order."""
        return [change for changes in self.objects().values() for change in changes]


def image_string(ref: image.ImageRef) -> str:
    """The full image reference a plain setter writes: name:tag, plus @digest when known."""
    text = f"{ref.name}:{ref.tag}"
    return f"{text}@{ref.digest}" if ref.digest else text


def setter_values(policies: dict[tuple[str, str], image.ImageRef]) -> dict[str, str]:
    """The value of each setter name defined by ``policies`` (keyed by (namespace, name))."""
    values: dict[str, str] = {}
    for (namespace, name), ref in policies.items():
        base = f"{namespace}:{name}"
        values[base] = image_string(ref)
        values[f"{base}:tag"] = ref.tag
        values[f"{base}:name"] = ref.name
        if ref.digest:
            values[f"{base}:digest"] = ref.digest
    return values


def update_with_setters(root: pathlib.Path, setters: dict[str, str]) -> Result:
    """Rewrite the marked fields of the YAML files under ``root`` in place; return the changes.

    ``setters`` maps setter names to values (see ``setter_values``). Files are
    written only when a value changed. Symbolic links are not followed.
    """
    result = Result()
    for path in _candidate_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            result.problem_files.append(relative)
            continue
        if _TOKEN not in text:
            continue
        try:
            updated = update_text(text, setters, relative, result)
        except yaml.YAMLError:
            result.problem_files.append(relative)
            continue
        if updated != text:
            path.write_bytes(updated.encode("utf-8"))
    return result


def update_text(text: str, setters: dict[str, str], file: str, result: Result) -> str:
    """Return ``text`` with its marked values rewritten, recording the changes under ``file``.

    Raises yaml.YAMLError when ``text`` is not valid YAML.
    """
    edits: list[tuple[int, int, str]] = []
    for document in yaml.compose_all(text, Loader=_LOADER):
        if document is None:
            continue
        obj = _identify(document)
        for node in _scalars(document):
            setter = _marker(text, node)
            if setter is None or setter not in setters:
                continue
            new_value = setters[setter]
            if new_value == node.value:
                continue
            edits.append((node.start_mark.index, node.end_mark.index, _render(node, new_value)))
            result.add(file, obj, Change(old_value=node.value, new_value=new_value, setter=setter))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _candidate_files(root: pathlib.Path) -> list[pathlib.Path]:
    found: list[pathlib.Path] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d != ".git")
        for name in sorted(files):
            path = pathlib.Path(directory, name)
            if path.is_symlink():
                continue
            if name.endswith(_YAML_SUFFIXES) or name == _KUSTOMIZATION_FILE:
                found.append(path)
    return found


def _scalars(node: yaml.Node) -> list[yaml.ScalarNode]:
    """The value scalars of ``node`` (mapping keys excluded), in document order."""
    if isinstance(node, yaml.ScalarNode):
        return [node]
    if isinstance(node, yaml.SequenceNode):
        return [scalar for item in node.value for scalar in _scalars(item)]
    if isinstance(node, yaml.MappingNode):
        return [scalar for _, value in node.value for scalar in _scalars(value)]
    return []


def _marker(text: str, node: yaml.ScalarNode) -> str | None:
    """The setter named by the line comment right after a one-line ``node``, if any."""
    if node.style not in (None, "", "'", '"'):
        return None
    if node.start_mark.line != node.end_mark.line:
        return None
    line_end = text.find("\n", node.end_mark.index)
    rest = text[node.end_mark.index : len(text) if line_end < 0 else line_end].rstrip("\r")
    match = _COMMENT.match(rest)
    if match is None:
        return None
    try:
        comment = json.loads(match["json"])
    except json.JSONDecodeError:
        return None
    setter = comment.get(MARKER_KEY) if isinstance(comment, dict) else None
    return setter if isinstance(setter, str) else None


def _render(node: yaml.ScalarNode, value: str) -> str:
    """``value`` written in the quoting style of ``node``, double-quoted when plain would not do."""
    if node.style == "'":
        return "'" + value.replace("'", "''") + "'"
    if node.style == '"' or not _reads_as_plain_string(value):
        return json.dumps(value)
    return value


def _reads_as_plain_string(value: str) -> bool:
    if not value or _PLAIN_UNSAFE.search(value):
        return False
    try:
        loaded: object = yaml.safe_load(value)
        return loaded == value
    except yaml.YAMLError:
        return False


def _identify(document: yaml.Node) -> ObjectIdentifier:
    if not isinstance(document, yaml.MappingNode):
        return ObjectIdentifier()
    fields = _string_fields(document)
    metadata = next(
        (v for k, v in document.value if isinstance(k, yaml.ScalarNode) and k.value == "metadata"),
        None,
    )
    meta = _string_fields(metadata) if isinstance(metadata, yaml.MappingNode) else {}
    return ObjectIdentifier(
        api_version=fields.get("apiVersion", ""),
        kind=fields.get("kind", ""),
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
    )


def _string_fields(mapping: yaml.MappingNode) -> dict[str, str]:
    return {
        key.value: value.value
        for key, value in mapping.value
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode)
    }
