"""Built-in kinds' own validation: what kube-apiserver refuses beyond the schema.

The schema check (``validation``) catches wrong JSON types; the API server
also runs each kind's Go validation and decodes ``[]byte`` fields. This
module does the part clients meet in practice, with kube-apiserver's words:

- ``secret_data_error``: a Secret ``data`` value that is not standard base64
  (the JSON decoder refuses it: 400 BadRequest ``Secret in version "v1"
  cannot be handled as a Secret: illegal base64 data at input byte <n>``,
  the offset as Go's ``encoding/base64`` reports it);
- ``causes``: the field errors of 422 Invalid for Pods and the workload kinds
  (Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController,
  Job, CronJob): negative ``spec.replicas`` (``must be greater than or equal
  to 0``), a pod template without containers (``Required value``),
  containers without ``name`` or ``image``, and a selector that does not
  match the template's labels (``selector`` does not match template
  ``labels``).

Names, labels and annotations are ``strategies.check_metadata``'s. Pure.
"""

from __future__ import annotations

import string
from typing import Any

from devcluster.machinery import selectors

Obj = dict[str, Any]
Cause = tuple[str, str, str]
_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/")
_NEWLINES = "\r\n"
# resource key -> path of the pod template's spec ("" for Pods themselves)
_TEMPLATES = {
    "/pods": (),
    "apps/deployments": ("spec", "template"),
    "apps/replicasets": ("spec", "template"),
    "apps/statefulsets": ("spec", "template"),
    "apps/daemonsets": ("spec", "template"),
    "/replicationcontrollers": ("spec", "template"),
    "batch/jobs": ("spec", "template"),
    "batch/cronjobs": ("spec", "jobTemplate", "spec", "template"),
}
_REPLICATED = {
    "apps/deployments",
    "apps/replicasets",
    "apps/statefulsets",
    "/replicationcontrollers",
}
_SELECTED = {"apps/deployments", "apps/replicasets", "apps/statefulsets", "apps/daemonsets"}


def base64_error(text: str) -> int | None:
    """The offset Go's ``base64.StdEncoding`` reports for ``text``, ``None`` if it decodes."""
    data = text.encode("utf-8")
    position = 0
    while position < len(data):
        got = 0
        while got < 4:
            if position == len(data):
                if got == 0:
                    return None
                return position - got
            char = chr(data[position])
            position += 1
            if char in _ALPHABET:
                got += 1
                continue
            if char in _NEWLINES:
                continue
            if char != "=" or got < 2:
                return position - 1
            if got == 2:
                while position < len(data) and chr(data[position]) in _NEWLINES:
                    position += 1
                if position == len(data):
                    return len(data)
                if chr(data[position]) != "=":
                    return position - 1
                position += 1
            while position < len(data) and chr(data[position]) in _NEWLINES:
                position += 1
            return position if position < len(data) else None
    return None


def secret_data_error(secret: Obj) -> str | None:
    """The 400 message for a Secret whose ``data`` does not decode, ``None`` when it does."""
    for value in (secret.get("data") or {}).values():
        if isinstance(value, str):
            offset = base64_error(value)
            if offset is not None:
                return (
                    'Secret in version "v1" cannot be handled as a Secret: '
                    f"illegal base64 data at input byte {offset}"
                )
    return None


def _dig(obj: Obj, path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None  # type: ignore[assignment]
    return obj


def _go_map(labels: dict[str, Any]) -> str:
    """A ``map[string]string`` as Go's ``%#v`` prints it (keys sorted)."""
    inner = ", ".join(f'"{key}":"{labels[key]}"' for key in sorted(labels))
    return "map[string]string{" + inner + "}"


def _pod_causes(spec: Any, where: str) -> list[Cause]:
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not containers:
        return [("FieldValueRequired", f"{where}.containers", "Required value")]
    causes: list[Cause] = []
    for index, container in enumerate(containers):
        if not isinstance(container, dict):
            continue
        for field in ("name", "image"):
            if not container.get(field):
                causes.append(
                    (
                        "FieldValueRequired",
                        f"{where}.containers[{index}].{field}",
                        "Required value",
                    )
                )
    return causes


def causes(key: str, obj: Obj) -> list[Cause]:
    """The field errors of ``obj`` of the resource ``key`` (see the module contract)."""
    template = _TEMPLATES.get(key)
    if template is None:
        return []
    found: list[Cause] = []
    replicas = (obj.get("spec") or {}).get("replicas")
    if key in _REPLICATED and isinstance(replicas, int) and replicas < 0:
        found.append(
            (
                "FieldValueInvalid",
                "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        )
    spec_path = (*template, "spec")
    found.extend(_pod_causes(_dig(obj, spec_path), ".".join(spec_path)))
    selector = (obj.get("spec") or {}).get("selector")
    labels = _dig(obj, (*template, "metadata", "labels")) or {}
    if key in _SELECTED and isinstance(selector, dict) and isinstance(labels, dict):
        requirements = selectors.from_label_selector(selector)
        if requirements and not selectors.labels_match(
            requirements, {"metadata": {"labels": labels}}
        ):
            found.append(
                (
                    "FieldValueInvalid",
                    "spec.template.metadata.labels",
                    f"Invalid value: {_go_map(labels)}: `selector` does not match template "
                    "`labels`",
                )
            )
    return found
