"""Charts in OCI registries, laid out as ``helm push`` lays them out.

A HelmRepository of ``type: oci`` names a registry location
(``oci://<host>/<path>``); chart ``<name>`` lives in repository
``<path>/<name>``, one tag per version. Helm writes a version's ``+`` as
``_`` in the tag (tags cannot hold ``+``) and reads it back.

Contract (every function takes a ``shared.oci.client.Client`` for the host):

- ``parse_url(url)`` → ``Location``; anything but ``oci://host[/path]`` is
  ``errors.InvalidUrlError`` ("invalid OCI registry URL: …").
- ``resolve_version(oci, location, chart, version)``: as Flux's OCI chart
  repository does, an exact SemVer 2.0 version is taken as is with no
  request; anything else (``""`` and ``*`` meaning the latest stable) lists
  the tags, prefers a tag equal to ``version``, else the highest tag the
  Masterminds range allows. Failures are ``BuildError``\\s with reason
  ``ChartPullError`` and Flux's wording ("could not get tags for …",
  "could not locate a version matching provided version string …").
- ``digest_of(oci, location, chart, version)``: one ``HEAD`` of the tag.
- ``pull(oci, location, chart, reference, limits=)``: the manifest under a
  tag or digest and its chart layer (``application/vnd.cncf.helm.chart.content.v1.tar+gzip``),
  digest-checked and refused past ``limits.max_size`` while it streams, and
  inflated as it arrives, in worker threads (``inflating``: the registry
  sends the rest meanwhile); returns the manifest digest, the chart
  ``.tgz``, its tar and its (checked) layer digest.
- ``pull_then(..., then=, sink=)``: ``then(pulled)`` run in the worker that
  inflated the last chunk, once the layer is complete and checked (the
  chart's own checks follow with no second hand-off); ``sink`` gets each
  chunk in the workers too (to write the layer to storage in the same pass).

Refused credentials and failures to connect (``shared.oci.errors``) are
left to the caller, which knows the reconcile's wording; nothing here
touches Kubernetes.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import semver

from controllers.source.helm import charts, errors, inflating
from shared.api import semverranges as constraints
from shared.oci import client, mediatypes
from shared.oci import errors as oci_errors

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Location:
    """Where a HelmRepository's charts live: a registry host and a path on it."""

    host: str
    path: str

    def repository(self, chart: str) -> str:
        """The registry repository of ``chart``."""
        return f"{self.path}/{chart}" if self.path else chart

    def url(self, chart: str, version: str = "") -> str:
        """``oci://host/path/chart[:version]``, as Flux names a chart in messages."""
        tag = f":{version}" if version else ""
        return f"oci://{self.host}/{self.repository(chart)}{tag}"


@dataclasses.dataclass(frozen=True)
class Pulled:
    """A chart pulled from a registry: the manifest's digest and the chart archive."""

    digest: str
    data: bytes
    tar: bytes
    """``data`` inflated (for ``charts.from_archive``)."""
    layer_digest: str
    """The digest of ``data`` (the chart layer's), checked as it arrived."""


def parse_url(url: str) -> Location:
    """The registry location of an ``oci://`` HelmRepository URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "oci" or not parts.netloc or parts.query or parts.fragment:
        raise errors.InvalidUrlError(f"invalid OCI registry URL: {url}")
    return Location(host=parts.netloc, path=parts.path.strip("/"))


def tag_of(version: str) -> str:
    """The tag Helm pushes ``version`` under (``+`` is not allowed in tags)."""
    return version.replace("+", "_")


def version_of(tag: str) -> str:
    """The chart version a tag stands for (Helm's reverse of ``tag_of``)."""
    return tag.replace("_", "+")


def is_exact(version: str) -> bool:
    """True for a strict SemVer 2.0 version (no ``v``, three parts): no listing needed."""
    return bool(version) and semver.Version.is_valid(version)


def _pull_error(cause: str) -> errors.BuildError:
    return errors.BuildError(
        errors.CHART_PULL, f"failed to get chart version for remote reference: {cause}"
    )


async def resolve_version(oci: client.Client, location: Location, chart: str, version: str) -> str:
    """The version of ``chart`` that ``version`` (exact, or a range) selects."""
    if is_exact(version):
        return version
    try:
        tags = await oci.list_tags(location.repository(chart))
    except oci_errors.UnauthorizedError:
        raise  # the caller says it is an authentication failure
    except (oci_errors.ResponseError, oci_errors.InvalidContentError) as failure:
        raise _pull_error(f'could not get tags for "{chart}": {failure}') from failure
    if not tags:
        raise _pull_error(f"unable to locate any tags in provided repository: {chart}")
    return pick(tags, version)


def pick(tags: list[str], version: str) -> str:
    """Flux's choice among ``tags``: ``version`` itself, else the highest in its range."""
    versions = [version_of(tag) for tag in tags]
    if version and version in versions:
        return version
    try:
        allowed = constraints.parse(version if version not in ("", "*") else "*")
    except ValueError as invalid:
        raise _pull_error(f"improper constraint: {version}") from invalid
    best: tuple[semver.Version, str] | None = None
    for candidate in versions:
        parsed = constraints.parse_version(candidate)
        if parsed is None or not allowed.allows(parsed):
            continue
        if best is None or parsed > best[0]:
            best = (parsed, candidate)
    if best is None:
        raise _pull_error(f"could not locate a version matching provided version string {version}")
    return best[1]


async def digest_of(oci: client.Client, location: Location, chart: str, version: str) -> str:
    """The manifest digest the tag of ``version`` points at."""
    descriptor = await oci.head_manifest(location.repository(chart), tag_of(version))
    return descriptor.digest


async def pull(
    oci: client.Client, location: Location, chart: str, reference: str, *, limits: charts.Limits
) -> Pulled:
    """The chart under ``reference`` (a version or a manifest digest)."""
    return await pull_then(oci, location, chart, reference, limits=limits, then=_itself)


def _itself(pulled: Pulled) -> Pulled:
    return pulled


async def pull_then(
    oci: client.Client,
    location: Location,
    chart: str,
    reference: str,
    *,
    limits: charts.Limits,
    then: Callable[[Pulled], T],
    sink: Callable[[bytes], None] | None = None,
) -> T:
    """``then(pulled)``, run in the worker thread that inflated the layer's last chunk.

    For the blocking work that follows a pull (checking or packaging the
    chart): it starts as soon as the last chunk is inflated, with no second
    hand-off to a thread. It does not run when the pull fails. ``sink``, if
    any, is given each chunk in the workers too (the layer written to
    storage as it arrives); what it wrote is the caller's to discard when
    this raises.
    """
    repository = location.repository(chart)
    manifest = await oci.get_manifest(repository, tag_of(reference))
    layer = next(
        (d for d in manifest.layers if d.media_type == mediatypes.HELM_CHART_CONTENT), None
    )
    if manifest.is_index or layer is None:
        raise errors.BuildError(
            errors.CHART_PULL,
            f"failed to download chart for remote reference: '{location.url(chart, reference)}'"
            f" has no layer of media type {mediatypes.HELM_CHART_CONTENT}: not a Helm chart",
        )

    def finish(data: bytes, tar: bytes) -> T:
        return then(Pulled(digest=manifest.digest, data=data, tar=tar, layer_digest=layer.digest))

    async with (
        oci.open_blob(repository, layer.digest, max_size=limits.max_size) as blob,
        inflating.Inflating(limits, finish, sink) as arriving,
    ):
        async for chunk in blob.chunks():
            arriving.feed(chunk)
    return await arriving.result()
