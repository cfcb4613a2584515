"""source-controller: ``python -m controllers.source`` (or ``source-controller``).

Reconciles GitRepositories, OCIRepositories, Buckets, HelmRepositories,
HelmCharts and ArtifactGenerators (into ExternalArtifacts) into artifacts under
``--storage-path`` and serves them read-only on ``--storage-addr``; artifact
URLs are built from ``--storage-adv-addr``. Takes the common controller flags
too (see ``shared.runtime.options``), with Flux's source-controller default of
2 for ``--concurrent``, and ``--feature-gates`` (``GATES``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import functools
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from controllers.source.artifactgenerator import reconciler as generators
from controllers.source.bucket import reconciler as buckets
from controllers.source.gitrepository import reconciler
from controllers.source.helm import charts, indexes
from controllers.source.helmchart import reconciler as helmchart
from controllers.source.helmrepository import reconciler as helmrepository
from controllers.source.ocirepository import reconciler as oci_reconciler
from shared.api import meta, source, source_extensions
from shared.artifacts import extracting, serving, storage
from shared.kube import errors
from shared.runtime import features, informers, logging, manager, options, scratch

CONTROLLER_NAME = "source-controller"
INCLUDES_INDEX = "includes"
CHART_SOURCE_INDEX = "chartSource"
GENERATOR_SOURCE_INDEX = "generatorSource"


def _advertised_address() -> str:
    namespace = os.environ.get("RUNTIME_NAMESPACE", "flux-system")
    return f"{CONTROLLER_NAME}.{namespace}.svc.cluster.local."


CONCURRENT = 2
"""Flux's source-controller default for ``--concurrent`` (the other controllers default to 4)."""
GATES = {
    # Flux 2.9's source-controller gates and defaults, accepted so a Flux
    # deployment's flags start this controller; neither changes behaviour here.
    "CacheSecretsAndConfigMaps": False,
    "ObjectLevelWorkloadIdentity": False,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flags:
    """source-controller's own flags (the common ones are ``options.Options``)."""

    feature_gates: features.FeatureGates = features.gates_flag(GATES)  # noqa: RUF009 - a field

    storage_path: str = options.flag(
        "the local directory artifacts are stored in", default="/data", env="STORAGE_PATH"
    )
    storage_addr: str = options.flag(
        "the address the artifact file server binds to", default=":9090"
    )
    storage_adv_addr: str = options.flag(
        "the host[:port] or base URL artifact URLs are built from",
        default_factory=_advertised_address,
    )
    storage_header_timeout: float = options.flag(
        "how long the file server waits for a request's headers (default 10s)",
        default=serving.Limits().header_timeout,
        parse=options.duration,
    )
    storage_idle_timeout: float = options.flag(
        "how long the file server keeps an idle keep-alive connection (default 1m)",
        default=serving.Limits().idle_timeout,
        parse=options.duration,
    )
    storage_send_timeout: float = options.flag(
        "how long the file server waits for a client that accepts no data (default 1m)",
        default=serving.Limits().send_timeout,
        parse=options.duration,
    )
    storage_max_connections: int = options.flag(
        "the file server's connection limit; beyond it a client gets 503",
        default=serving.Limits().max_connections,
    )
    artifact_retention_ttl: str = options.flag(
        "how long superseded artifacts are kept (e.g. 60s)", default="60s"
    )
    artifact_retention_records: int = options.flag(
        "how many superseded artifacts are kept at most", default=2
    )
    artifact_max_size: int = options.artifact_max_size_flag(
        "the largest total size of the files in an artifact, before compression",
        default=extracting.DEFAULT_MAX_TOTAL_SIZE,
    )
    helm_index_max_size: int = options.flag(
        "the largest Helm repository index.yaml accepted, in bytes", default=50 << 20
    )
    helm_chart_max_size: int = options.flag(
        "the largest Helm chart archive accepted, in bytes", default=10 << 20
    )
    helm_chart_file_max_size: int = options.flag(
        "the largest single file in a Helm chart, in bytes", default=5 << 20
    )
    helm_cache_max_size: int = options.flag(
        "how many parsed Helm indexes are kept in memory (0 disables the cache)", default=0
    )
    helm_cache_ttl: float = options.flag(
        "how long an unused parsed index stays in the cache (default 15m)",
        default=15 * 60.0,
        parse=options.duration,
    )
    helm_cache_purge_interval: float = options.flag(
        "how often expired indexes are dropped from the cache (default 1m)",
        default=60.0,
        parse=options.duration,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=CONTROLLER_NAME, description=__doc__.splitlines()[0])
    options.add_common_flags(parser)
    parser.set_defaults(concurrent=CONCURRENT)
    options.add_flags(parser, Flags)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    opts = options.from_args(args)
    flags = options.parsed(Flags, args)
    try:
        ttl = meta.parse_duration(flags.artifact_retention_ttl).total_seconds()
    except ValueError as error:
        print(f"{CONTROLLER_NAME}: --artifact-retention-ttl: {error}", file=sys.stderr)
        return 2
    store = storage.Storage(
        flags.storage_path,
        advertised_address=flags.storage_adv_addr,
        retention=storage.RetentionPolicy(
            ttl=datetime.timedelta(seconds=ttl), records=flags.artifact_retention_records
        ),
        max_artifact_size=flags.artifact_max_size,
    )
    removed = await store.remove_partial_files()
    if removed:
        logging.get_logger().info("removed partial storage files", files=removed)
    async with aiohttp.ClientSession() as session:
        return await manager.run_process(
            opts,
            name=CONTROLLER_NAME,
            setup=functools.partial(
                _setup,
                store=store,
                session=session,
                flags=flags,
                storage_addr=flags.storage_addr,
                limits=serving.Limits(
                    header_timeout=flags.storage_header_timeout,
                    idle_timeout=flags.storage_idle_timeout,
                    send_timeout=flags.storage_send_timeout,
                    max_connections=flags.storage_max_connections,
                ),
            ),
        )


async def _setup(
    mgr: manager.Manager,
    *,
    store: storage.Storage,
    session: aiohttp.ClientSession,
    flags: Flags,
    storage_addr: str,
    limits: serving.Limits,
) -> None:
    repositories = await mgr.informer(
        source.API_VERSION, "GitRepository", scope=mgr.default_scope()
    )
    controller = await mgr.add_controller(
        reconciler.GitRepositoryReconciler(
            api=mgr.api, store=store, recorder=mgr.recorder, repositories=repositories
        )
    )
    # A repository that includes another is reconciled again when the
    # included one gets a new artifact.
    repositories.add_index(INCLUDES_INDEX, _included_keys)
    controller.watch(
        repositories,
        lambda obj: [
            informers.key_of(o)
            for o in repositories.by_index(INCLUDES_INDEX, informers.key_of(obj))
        ],
        when=_artifact_changed,
    )
    oci_repositories = oci_reconciler.OCIRepositoryReconciler(
        api=mgr.api, store=store, recorder=mgr.recorder
    )
    await mgr.add_controller(oci_repositories)
    mgr.add_task(functools.partial(_close_on_exit, oci_repositories.close))
    bucket_controller = await mgr.add_controller(
        buckets.BucketReconciler(api=mgr.api, store=store, recorder=mgr.recorder)
    )
    await _setup_helm(
        mgr,
        store=store,
        session=session,
        flags=flags,
        repositories=repositories,
        buckets=bucket_controller.informer,
    )
    await _setup_generators(mgr, store=store, session=session)
    host, port = options.split_addr(storage_addr)

    async def serve_artifacts() -> None:
        async with serving.running(store.root, host=host, port=port, limits=limits):
            await asyncio.Event().wait()

    mgr.add_task(serve_artifacts)


async def _setup_helm(
    mgr: manager.Manager,
    *,
    store: storage.Storage,
    session: aiohttp.ClientSession,
    flags: Flags,
    repositories: informers.Informer,
    buckets: informers.Informer,
) -> None:
    """HelmRepository and HelmChart; a chart is requeued when its source's artifact changes."""
    helm_repositories = await mgr.informer(
        source.API_VERSION, "HelmRepository", scope=mgr.default_scope()
    )
    await mgr.add_controller(
        helmrepository.HelmRepositoryReconciler(
            api=mgr.api,
            store=store,
            recorder=mgr.recorder,
            session=session,
            limits=helmrepository.Limits(index_max_size=flags.helm_index_max_size),
        )
    )
    cache = indexes.Cache(max_size=flags.helm_cache_max_size, ttl=flags.helm_cache_ttl)
    charts_controller = await mgr.add_controller(
        helmchart.HelmChartReconciler(
            api=mgr.api,
            store=store,
            recorder=mgr.recorder,
            session=session,
            helm_repositories=helm_repositories,
            git_repositories=repositories,
            buckets=buckets,
            cache=cache,
            limits=charts.Limits(
                max_size=flags.helm_chart_max_size,
                max_file_size=flags.helm_chart_file_max_size,
            ),
        )
    )
    helm_charts = charts_controller.informer
    helm_charts.add_index(CHART_SOURCE_INDEX, _chart_source_keys)
    for sources, kind in (
        (helm_repositories, "HelmRepository"),
        (repositories, "GitRepository"),
        (buckets, "Bucket"),
    ):
        charts_controller.watch(
            sources,
            functools.partial(_charts_of, helm_charts, kind),
            when=_artifact_changed,
        )

    async def purge_cache() -> None:
        while True:
            await asyncio.sleep(flags.helm_cache_purge_interval)
            cache.purge()

    mgr.add_task(purge_cache)


async def _setup_generators(
    mgr: manager.Manager, *, store: storage.Storage, session: aiohttp.ClientSession
) -> None:
    """ArtifactGenerator (when its CRD is served); requeued when a source's artifact changes."""
    try:
        controller = await mgr.add_controller(
            generators.ArtifactGeneratorReconciler(
                api=mgr.api, store=store, recorder=mgr.recorder, session=session
            )
        )
    except errors.NotFoundError:
        logging.get_logger().info(
            "kind not served; not reconciling it", kind=source_extensions.ArtifactGenerator.crd.kind
        )
        return
    controller.informer.add_index(GENERATOR_SOURCE_INDEX, generators.source_keys)
    for kind in ("GitRepository", "OCIRepository", "Bucket", "HelmChart", "ExternalArtifact"):
        try:
            sources = await mgr.informer(source.API_VERSION, kind, scope=mgr.default_scope())
        except errors.NotFoundError:
            logging.get_logger().info("source kind not served; not watching it", kind=kind)
            continue
        controller.watch(
            sources,
            functools.partial(_users_of, controller.informer, GENERATOR_SOURCE_INDEX, kind),
            when=_artifact_changed,
        )


def _users_of(users: informers.Informer, index: str, kind: str, obj: dict[str, Any]) -> list[str]:
    """The objects of ``users`` whose ``index`` names source ``obj`` of ``kind``."""
    key = f"{kind}/{informers.key_of(obj)}"
    return [informers.key_of(o) for o in users.by_index(index, key)]


def _chart_source_keys(obj: dict[str, Any]) -> list[str]:
    """``Kind/namespace/name`` of the source a HelmChart builds from."""
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    namespace = obj["metadata"].get("namespace")
    return [f"{ref.get('kind')}/{namespace}/{ref.get('name')}"] if ref.get("name") else []


def _charts_of(charts_informer: informers.Informer, kind: str, obj: dict[str, Any]) -> list[str]:
    """The HelmCharts built from source ``obj`` of ``kind``."""
    key = f"{kind}/{informers.key_of(obj)}"
    return [informers.key_of(o) for o in charts_informer.by_index(CHART_SOURCE_INDEX, key)]


async def _close_on_exit(close: Callable[[], Awaitable[None]]) -> None:
    """Wait until the process stops, then release what ``close`` releases."""
    try:
        await asyncio.Event().wait()
    finally:
        await close()


def _artifact_changed(_: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    def artifact(obj: dict[str, Any] | None) -> Any:
        return ((obj or {}).get("status") or {}).get("artifact")

    return bool(artifact(new) != artifact(old))


def _included_keys(obj: dict[str, Any]) -> list[str]:
    """``namespace/name`` of every GitRepository that ``obj`` includes."""
    namespace = obj["metadata"].get("namespace")
    includes = (obj.get("spec") or {}).get("include") or []
    return [f"{namespace}/{i['repository']['name']}" for i in includes if i.get("repository")]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.configure(level=args.log_level, encoding=args.log_encoding)
    scratch.claim(CONTROLLER_NAME)
    os.makedirs(args.storage_path, exist_ok=True)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
