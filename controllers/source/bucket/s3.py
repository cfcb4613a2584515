"""An S3 bucket as Bucket needs it: a paginated listing and object downloads.

boto3 is synchronous; every call runs in a worker thread. A ``Bucket`` is
built per reconcile from the spec and the Secret (``accesskey`` and
``secretkey``, both or neither); ``endpoint`` gets ``http://`` when
``insecure`` and ``https://`` otherwise, as Flux's generic provider does.
ETags are returned without their quotes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

PAGE_SIZE = 1000
"""Keys per ListObjectsV2 page (S3's own maximum)."""


class BucketError(Exception):
    """An S3 request failed (the message names the operation and S3's answer)."""


@dataclasses.dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


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
        page_size: int = PAGE_SIZE,
    ) -> None:
        scheme = "http" if insecure else "https"
        url = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
        self.name = bucket
        self._page_size = page_size
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=url,
            region_name=region or "us-east-1",
            aws_access_key_id=credentials.access_key if credentials else None,
            aws_secret_access_key=credentials.secret_key if credentials else None,
            config=botocore.config.Config(
                signature_version="s3v4" if credentials else botocore.UNSIGNED,
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3},
            ),
        )

    async def list(self, prefix: str | None) -> dict[str, str]:
        """key → ETag of every object under ``prefix``, page by page."""
        return await asyncio.to_thread(self._list, prefix or "")

    def _list(self, prefix: str) -> dict[str, str]:
        found: dict[str, str] = {}
        try:
            self._client.head_bucket(Bucket=self.name)
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
            raise BucketError(f"downloading object '{key}': {_why(failed)}") from failed
        except botocore.exceptions.BotoCoreError as failed:
            raise BucketError(f"downloading object '{key}': {_why(failed)}") from failed
        return True


def _why(failed: Exception) -> str:
    if isinstance(failed, botocore.exceptions.ClientError):
        error = failed.response.get("Error") or {}
        if str(error.get("Code")) in ("404", "NoSuchBucket"):
            return f"bucket does not exist ({error.get('Code')})"
        return f"{error.get('Code')}: {error.get('Message') or failed}"
    return str(failed)
