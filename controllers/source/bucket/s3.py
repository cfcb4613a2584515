"""An S3 bucket as Bucket needs it: a paginated listing and object downloads.

boto3 is synchronous; every call runs in a worker thread. A ``Bucket`` is
built per reconcile from the spec and the Secret (``accesskey`` and
``secretkey``, both or neither, plus a session token when they came from an
STS); ``endpoint`` gets ``http://`` when ``insecure`` and ``https://``
otherwise, as Flux's generic provider does. ETags are returned without
their quotes. ``tls`` (from ``certSecretRef``) is used only over HTTPS;
botocore reads a CA bundle and a client certificate from files only, so
they are written to a private temporary directory that ``close()`` removes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import shutil
import tempfile
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from controllers.source.bucket import clients

PAGE_SIZE = 1000
"""Keys per ListObjectsV2 page (S3's own maximum)."""


BucketError = clients.BucketError


@dataclasses.dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


@dataclasses.dataclass(frozen=True)
class Tls:
    """PEM bytes from a ``certSecretRef``: a CA to trust and/or a client certificate."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None


class Bucket:
    """One bucket at one endpoint."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str | None,
        insecure: bool,
        credentials: Credentials | None,
        tls: Tls | None = None,
        proxy: str | None = None,
        timeout: float = 60.0,
        page_size: int = PAGE_SIZE,
    ) -> None:
        url = str(clients.endpoint_url(endpoint, insecure=insecure))
        self.name = bucket
        self._page_size = page_size
        self._files: pathlib.Path | None = None
        verify: bool | str = True
        client_cert: tuple[str, str] | None = None
        if tls is not None and url.startswith("https://"):
            self._files = pathlib.Path(tempfile.mkdtemp(prefix="headwater-bucket-tls-"))
            if tls.ca:
                verify = _write(self._files / "ca.crt", tls.ca)
            if tls.cert and tls.key:
                client_cert = (
                    _write(self._files / "tls.crt", tls.cert),
                    _write(self._files / "tls.key", tls.key),
                )
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=url,
            region_name=region or "us-east-1",
            aws_access_key_id=credentials.access_key if credentials else None,
            aws_secret_access_key=credentials.secret_key if credentials else None,
            aws_session_token=credentials.session_token if credentials else None,
            verify=verify,
            config=botocore.config.Config(
                signature_version="s3v4" if credentials else botocore.UNSIGNED,
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3},
                connect_timeout=timeout,
                read_timeout=timeout,
                proxies={"http": proxy, "https": proxy} if proxy else None,
                client_cert=client_cert,
            ),
        )

    async def close(self) -> None:
        self._client.close()
        if self._files is not None:
            shutil.rmtree(self._files, ignore_errors=True)

    async def list(self, prefix: str | None) -> dict[str, str]:
        """key → ETag of every object under ``prefix``, page by page."""
        return await asyncio.to_thread(self._list, prefix or "")

    def _list(self, prefix: str) -> dict[str, str]:
        found: dict[str, str] = {}
        try:
            self._client.head_bucket(Bucket=self.name)
        except botocore.exceptions.ClientError as failed:
            code = str((failed.response.get("Error") or {}).get("Code"))
            if code in ("404", "NoSuchBucket"):
                raise clients.NotFoundError(f"bucket '{self.name}' not found") from failed
            raise BucketError(
                f"failed to confirm existence of '{self.name}' bucket: {_why(failed)}"
            ) from failed
        except botocore.exceptions.BotoCoreError as failed:
            raise BucketError(
                f"failed to confirm existence of '{self.name}' bucket: {_why(failed)}"
            ) from failed
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix, PaginationConfig={"PageSize": self._page_size}
            )
            for page in pages:
                for item in page.get("Contents") or []:
                    found[item["Key"]] = str(item.get("ETag", "")).strip('"')
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as failed:
            raise BucketError(
                f"listing objects in bucket '{self.name}': {_why(failed)}"
            ) from failed
        return found

    async def download(self, key: str, target: pathlib.Path, *, optional: bool = False) -> bool:
        """Write object ``key`` to ``target``; False when ``optional`` and it does not exist."""
        return await asyncio.to_thread(self._download, key, target, optional)

    def _download(self, key: str, target: pathlib.Path, optional: bool) -> bool:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._client.download_file(self.name, key, str(target))
        except botocore.exceptions.ClientError as failed:
            code = str((failed.response.get("Error") or {}).get("Code"))
            if optional and code in ("404", "NoSuchKey"):
                return False
            raise BucketError(f"failed to get '{key}' object: {_why(failed)}") from failed
        except botocore.exceptions.BotoCoreError as failed:
            raise BucketError(f"failed to get '{key}' object: {_why(failed)}") from failed
        return True


def _write(path: pathlib.Path, data: bytes) -> str:
    path.touch(mode=0o600)
    path.write_bytes(data)
    return str(path)


def _why(failed: Exception) -> str:
    if isinstance(failed, botocore.exceptions.ClientError):
        error = failed.response.get("Error") or {}
        return f"{error.get('Code')}: {error.get('Message') or failed}"
    return str(failed)
