"""Small pure helpers on API objects: timestamps, names, metadata checks.

``validate_name`` mirrors apimachinery's name rules (RFC 1123 DNS subdomain
for most kinds, RFC 1123 label for namespaces, DNS-1035 label for Services,
path segments for RBAC objects) and returns the messages the API
server gives, so 422 responses read the same.
"""

from __future__ import annotations

import base64
import datetime
import re
import secrets
import typing
from typing import Any

_T = typing.TypeVar("_T")

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
# Kinds whose names must be DNS labels rather than subdomains (Services: DNS-1035).
LABEL_NAMED = {"namespaces", "services"}
# RBAC objects are named by path segments (``system:discovery``), not DNS names.
SEGMENT_NAMED = {"roles", "clusterroles", "rolebindings", "clusterrolebindings"}


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def timestamp(moment: datetime.datetime | None = None) -> str:
    """RFC 3339 with second precision, as ``metav1.Time`` marshals."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def validate_name(name: str, *, plural: str) -> list[str]:
    """Messages for a name the API server would reject (empty when valid)."""
    problems: list[str] = []
    if plural in SEGMENT_NAMED:
        if name in (".", ".."):
            problems.append(f"may not be '{name}'")
        problems.extend(f"may not contain '{bad}'" for bad in ("/", "%") if bad in name)
    elif plural in LABEL_NAMED:
        if len(name) > 63:
            problems.append("must be no more than 63 characters")
        if plural == "services" and not _DNS1035.fullmatch(name):
            problems.append(_DNS1035_MESSAGE)
        elif plural != "services" and not _LABEL.fullmatch(name):
            problems.append(_LABEL_MESSAGE)
    else:
        if len(name) > 253:
            problems.append("must be no more than 253 characters")
        if not _SUBDOMAIN.fullmatch(name):
            problems.append(_SUBDOMAIN_MESSAGE)
    return problems


_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_QUALIFIED_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
ANNOTATIONS_LIMIT = 256 * 1024


def _key_problems(key: str) -> list[str]:
    prefix, slash, name = key.rpartition("/")
    problems: list[str] = []
    if slash and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.fullmatch(prefix)):
        problems.append("prefix part " + _SUBDOMAIN_MESSAGE)
    if not name or len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        problems.append(_QUALIFIED_MESSAGE if name else "name part must be non-empty")
    return problems


def validate_metadata(metadata: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Causes for invalid label keys/values and annotation keys/size."""
    causes: list[tuple[str, str, str]] = []
    labels = metadata.get("labels") or {}
    if isinstance(labels, dict):
        for key, value in labels.items():
            for problem in _key_problems(str(key)):
                causes.append(
                    ("FieldValueInvalid", "metadata.labels", f'Invalid value: "{key}": {problem}')
                )
            text = "" if value is None else str(value)
            if len(text) > 63 or (text and not _QUALIFIED_NAME.fullmatch(text)):
                causes.append(
                    (
                        "FieldValueInvalid",
                        "metadata.labels",
                        f'Invalid value: "{text}": {_LABEL_VALUE_MESSAGE}',
                    )
                )
    annotations = metadata.get("annotations") or {}
    if isinstance(annotations, dict):
        for key in annotations:
            for problem in _key_problems(str(key).lower()):
                causes.append(
                    (
                        "FieldValueInvalid",
                        "metadata.annotations",
                        f'Invalid value: "{key}": {problem}',
                    )
                )
        size = sum(len(str(k)) + len(str(v or "")) for k, v in annotations.items())
        if size > ANNOTATIONS_LIMIT:
            causes.append(
                (
                    "FieldValueTooLong",
                    "metadata.annotations",
                    f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes",
                )
            )
    return causes


def generate_name(prefix: str) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(5))


def clone(value: _T) -> _T:
    """A deep copy of a JSON value (several times faster than ``copy.deepcopy``)."""
    return typing.cast(_T, _clone(value))


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def without_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` minus what changes on every write (for no-op detection)."""
    metadata = dict(meta(obj))
    metadata.pop("resourceVersion", None)
    fields = metadata.get("managedFields")
    if isinstance(fields, list):
        metadata["managedFields"] = [
            {k: v for k, v in entry.items() if k != "time"} if isinstance(entry, dict) else entry
            for entry in fields
        ]
    return {**obj, "metadata": metadata}


def spec_part(obj: dict[str, Any], *, with_status: bool = False) -> dict[str, Any]:
    """What ``generation`` counts changes of: all but metadata (and status, when it
    is a subresource: without one, a status change is a change of the object)."""
    skipped = (
        ("metadata", "apiVersion", "kind")
        if with_status
        else ("metadata", "status", "apiVersion", "kind")
    )
    return {k: v for k, v in obj.items() if k not in skipped}


def fold_string_data(secret: dict[str, Any]) -> dict[str, Any]:
    """A Secret as the API server stores it: ``stringData`` merged into ``data``.

    ``stringData`` is write-only: each entry is base64-encoded into ``data``
    (overriding a ``data`` entry of the same key) and ``stringData`` is dropped.
    """
    string_data = secret.get("stringData")
    if not string_data:
        secret.pop("stringData", None)
        return secret
    folded = dict(secret)
    data = dict(folded.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    folded["data"] = data
    del folded["stringData"]
    return folded
