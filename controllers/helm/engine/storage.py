"""Helm's release storage, driver "secret": one Secret per revision (async).

The format is Helm's own, so the Helm SDK and CLI read, list, roll back and
uninstall what the engine stores, and the engine takes over what they stored:

- the Secret ``sh.helm.release.v1.<name>.v<version>`` in the storage
  namespace, type ``helm.sh/release.v1``;
- labels ``name``, ``owner=helm``, ``status``, ``version`` and
  ``createdAt`` (on create) or ``modifiedAt`` (on update, Unix seconds),
  beside the release's own labels (Helm 3.13+ keeps them there, not in the
  JSON; the system labels are stripped when reading);
- ``data.release``: base64 of the gzip (best compression) of the release
  JSON (``records.to_json``), then base64 again as any Secret data is.

``ReleaseStore`` reads a release's revisions with one list request and
writes one request per change. ``prune`` is Helm's ``maxHistory``: before a
new revision is stored, the oldest revisions are deleted until ``max - 1``
remain, never the newest deployed one.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from controllers.helm.engine import failures, records
from shared.kube import client, errors

SECRET_TYPE = "helm.sh/release.v1"
OWNER = "helm"
SYSTEM_LABELS = frozenset({"name", "owner", "status", "version", "createdAt", "modifiedAt"})
_GZIP_MAGIC = b"\x1f\x8b\x08"


def secret_name(name: str, version: int) -> str:
    return f"sh.helm.release.v1.{name}.v{version}"


def encode(record: records.ReleaseRecord) -> str:
    """Helm's ``encodeRelease``: base64 of gzipped release JSON."""
    payload = json.dumps(records.to_json(record), separators=(",", ":")).encode()
    return base64.b64encode(gzip.compress(payload, compresslevel=9)).decode()


def decode(text: str | bytes, *, labels: Mapping[str, str] | None = None) -> records.ReleaseRecord:
    """Helm's ``decodeRelease`` (uncompressed JSON too, as very old Helm wrote it)."""
    try:
        data = base64.b64decode(text, validate=True)
        if data[:3] == _GZIP_MAGIC:
            data = gzip.decompress(data)
        return records.from_json(json.loads(data), labels=labels)
    except (ValueError, OSError, EOFError) as error:
        raise failures.StorageError(f"cannot decode the release: {error}") from error


def release_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The release's own labels among a storage Secret's labels."""
    return {key: value for key, value in labels.items() if key not in SYSTEM_LABELS}


def to_secret(record: records.ReleaseRecord, *, namespace: str, created: bool) -> dict[str, Any]:
    """The storage Secret of ``record`` (``created``: a new Secret, else an update)."""
    labels = dict(release_labels(record.labels))
    labels["createdAt" if created else "modifiedAt"] = str(int(time.time()))
    labels.update(
        name=record.name, owner=OWNER, status=str(record.status), version=str(record.version)
    )
    encoded = encode(record).encode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(record.name, record.version),
            "namespace": namespace,
            "labels": labels,
        },
        "type": SECRET_TYPE,
        "data": {"release": base64.b64encode(encoded).decode()},
    }


def from_secret(secret: Mapping[str, Any]) -> records.ReleaseRecord:
    """The record a storage Secret holds; ``StorageError`` when it holds none."""
    name = (secret.get("metadata") or {}).get("name", "")
    data = (secret.get("data") or {}).get("release")
    if not data:
        raise failures.StorageError(f"storage Secret {name} has no release data")
    try:
        helm_encoded = base64.b64decode(data, validate=True)
    except ValueError as error:
        raise failures.StorageError(f"storage Secret {name}: {error}") from error
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return decode(helm_encoded, labels=release_labels(labels))


class ReleaseStore:
    """The revisions of releases stored in one namespace (see the module docstring)."""

    def __init__(self, api: client.Client, namespace: str) -> None:
        self.api = api
        self.namespace = namespace

    def _collection(self) -> str:
        return f"/api/v1/namespaces/{urllib.parse.quote(self.namespace)}/secrets"

    async def _call(self, what: str, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return await self.api.request(method, path, **kwargs)
        except errors.KubeError as error:
            raise failures.StorageError(f"{what}: {error.message}") from error

    async def history(self, name: str) -> list[records.ReleaseRecord]:
        """Every stored revision of release ``name``, oldest first."""
        selector = f"owner={OWNER},name={name}"
        listing = await self._call(
            f"cannot list the revisions of release {name}",
            "GET",
            self._collection(),
            query={"labelSelector": selector},
            verb="list",
        )
        found = [from_secret(item) for item in (listing or {}).get("items") or ()]
        return sorted(found, key=lambda record: record.version)

    async def latest(self, name: str) -> records.ReleaseRecord | None:
        """The newest revision of release ``name``, whatever its status."""
        history = await self.history(name)
        return history[-1] if history else None

    async def deployed(self, name: str) -> records.ReleaseRecord | None:
        """The newest revision of release ``name`` whose status is deployed."""
        return deployed_of(await self.history(name))

    async def get(self, name: str, version: int) -> records.ReleaseRecord:
        try:
            secret = await self.api.request(
                "GET", f"{self._collection()}/{secret_name(name, version)}", verb="get"
            )
        except errors.NotFoundError as error:
            raise failures.ReleaseNotFoundError(
                f"release {name} has no revision {version}"
            ) from error
        except errors.KubeError as error:
            raise failures.StorageError(
                f"cannot read revision {version} of release {name}: {error.message}"
            ) from error
        return from_secret(secret)

    async def create(self, record: records.ReleaseRecord) -> None:
        """Store a new revision (``StorageError`` when that revision exists already)."""
        await self._call(
            f"cannot store revision {record.version} of release {record.name}",
            "POST",
            self._collection(),
            body=to_secret(record, namespace=self.namespace, created=True),
            verb="create",
        )

    async def update(self, record: records.ReleaseRecord) -> None:
        """Overwrite a stored revision (status, description, hooks' last runs…)."""
        await self._call(
            f"cannot update revision {record.version} of release {record.name}",
            "PUT",
            f"{self._collection()}/{secret_name(record.name, record.version)}",
            body=to_secret(record, namespace=self.namespace, created=False),
            verb="update",
        )

    async def delete(self, name: str, version: int) -> None:
        """Delete a stored revision; one already gone is no error."""
        try:
            await self.api.request(
                "DELETE", f"{self._collection()}/{secret_name(name, version)}", verb="delete"
            )
        except errors.NotFoundError:
            return
        except errors.KubeError as error:
            raise failures.StorageError(
                f"cannot delete revision {version} of release {name}: {error.message}"
            ) from error

    async def prune(self, name: str, *, max_history: int) -> list[int]:
        """Helm's ``maxHistory`` before storing a new revision; returns the deleted versions."""
        if max_history <= 0:
            return []
        history = await self.history(name)
        keep = max_history - 1
        last_deployed = deployed_of(history)
        doomed: list[int] = []
        for record in history:
            if len(history) - len(doomed) <= keep:
                break
            if last_deployed is None or record.version != last_deployed.version:
                doomed.append(record.version)
        for version in doomed:
            await self.delete(name, version)
        return doomed


def deployed_of(history: list[records.ReleaseRecord]) -> records.ReleaseRecord | None:
    """The newest deployed revision of a history (oldest first)."""
    deployed = [record for record in history if record.status == records.Status.DEPLOYED]
    return deployed[-1] if deployed else None
