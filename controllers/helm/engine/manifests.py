"""Rendered templates into a release's manifest and hooks, as Helm sorts them (pure).

- ``split_notes`` takes ``<chart>/templates/NOTES.txt`` out of the rendered
  files (sub-charts' notes are dropped, as Helm does by default);
- ``sort`` splits every file into YAML documents (Helm's ``^---`` separator),
  skips partials (``_*``) and empty documents, and makes each document with a
  ``helm.sh/hook`` annotation a ``records.Hook`` (events, weight, delete and
  output-log policies); a document naming an unknown hook event is dropped as
  Helm drops it. Files are visited in path order, documents in file order,
  and both lists are then sorted stably by Helm's install order of kinds
  (unknown kinds last, alphabetically);
- ``manifest_text`` is the release's ``manifest`` as Helm writes it
  (``---\\n# Source: <path>\\n<document>\\n`` per object);
- ``objects`` parses a stored manifest (or a hook's) back into objects.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from controllers.helm.engine import failures, records

HOOK = "helm.sh/hook"
HOOK_WEIGHT = "helm.sh/hook-weight"
HOOK_DELETE_POLICY = "helm.sh/hook-delete-policy"
HOOK_OUTPUT_LOG_POLICY = "helm.sh/hook-output-log-policy"
RESOURCE_POLICY = "helm.sh/resource-policy"
NOTES = "NOTES.txt"

INSTALL_ORDER = (
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
)
_RANK = {kind: rank for rank, kind in enumerate(INSTALL_ORDER)}
_SEPARATOR = re.compile(r"^---[ \t]*", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Manifest:
    """One rendered object that is not a hook: the template it came from and its text."""

    path: str
    content: str
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))


def split_notes(files: Mapping[str, str], *, chart_name: str) -> tuple[dict[str, str], str]:
    """The files without any NOTES.txt, and the chart's own notes."""
    own = posixpath.join(chart_name, "templates", NOTES)
    kept = {path: text for path, text in files.items() if not path.endswith(NOTES)}
    return kept, files.get(own, "")


def split_documents(text: str) -> list[str]:
    """Helm's ``SplitManifests``: the non-blank documents of a YAML stream, in order."""
    documents = _SEPARATOR.split(text.lstrip())
    return [document.lstrip() for document in documents if document.strip()]


def parse(document: str, *, path: str) -> dict[str, Any] | None:
    """One YAML document as an object (None when empty); ``ChartError`` when not an object."""
    try:
        obj = yaml.load(document, Loader=yaml.CSafeLoader)
    except yaml.YAMLError as error:
        raise failures.ChartError(f"YAML parse error on {path}: {error}") from error
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise failures.ChartError(f"YAML parse error on {path}: not an object")
    return obj


def _values(annotation: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in annotation.split(",") if part.strip())


def _weight(text: Any) -> int:
    try:
        return int(str(text))
    except ValueError:
        return 0


def _hook(obj: Mapping[str, Any], *, path: str, document: str) -> records.Hook | None:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    events = _values(str(annotations[HOOK]))
    if any(event not in records.HOOK_EVENTS for event in events):
        return None
    return records.Hook(
        name=str((obj.get("metadata") or {}).get("name", "")),
        kind=str(obj.get("kind", "")),
        path=path,
        manifest=document,
        events=events,
        weight=_weight(annotations.get(HOOK_WEIGHT, "0")),
        delete_policies=_values(str(annotations.get(HOOK_DELETE_POLICY, ""))),
        output_log_policies=_values(str(annotations.get(HOOK_OUTPUT_LOG_POLICY, ""))),
    )


def kind_key(kind: str) -> tuple[int, str]:
    """The sort key of a kind in Helm's install order (unknown kinds last, alphabetically)."""
    rank = _RANK.get(kind)
    return (rank, "") if rank is not None else (len(INSTALL_ORDER), kind)


def sort(files: Mapping[str, str]) -> tuple[tuple[records.Hook, ...], list[Manifest]]:
    """Helm's ``SortManifests`` (see the module docstring): hooks, then other objects."""
    hooks: list[records.Hook] = []
    generic: list[Manifest] = []
    for path in sorted(files):
        if posixpath.basename(path).startswith("_") or not files[path].strip():
            continue
        for document in split_documents(files[path]):
            obj = parse(document, path=path)
            if obj is None:
                continue
            annotations = (obj.get("metadata") or {}).get("annotations") or {}
            if HOOK not in annotations:
                generic.append(Manifest(path=path, content=document, obj=obj))
                continue
            hook = _hook(obj, path=path, document=document)
            if hook is not None:
                hooks.append(hook)
    hooks.sort(key=lambda hook: kind_key(hook.kind))
    generic.sort(key=lambda manifest: kind_key(manifest.kind))
    return tuple(hooks), generic


def manifest_text(manifests: Iterable[Manifest]) -> str:
    """The release's ``manifest`` field, as Helm writes it."""
    return "".join(f"---\n# Source: {m.path}\n{m.content}\n" for m in manifests)


def objects(text: str) -> list[dict[str, Any]]:
    """The objects of a stored manifest, in order (empty documents skipped)."""
    found: list[dict[str, Any]] = []
    for document in split_documents(text):
        obj = parse(document, path="manifest")
        if obj is not None:
            found.append(obj)
    return found


def dump(obj: Mapping[str, Any]) -> str:
    """One object as a YAML document (block style, keys in their order)."""
    return yaml.dump(dict(obj), Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)


def kept(obj: Mapping[str, Any]) -> bool:
    """``helm.sh/resource-policy: keep``: Helm never deletes the object."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(RESOURCE_POLICY, "")).strip().lower() == "keep"


def crd_objects(crds: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions of a chart's ``crds/`` files."""
    found: list[dict[str, Any]] = []
    for filename, text in crds:
        for document in split_documents(text):
            obj = parse(document, path=filename)
            if obj is not None and obj.get("kind") == "CustomResourceDefinition":
                found.append(obj)
    return found
