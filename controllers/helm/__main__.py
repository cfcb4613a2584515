"""helm-controller: ``python -m controllers.helm`` (or ``helm-controller``).

Reconciles HelmReleases: charts from HelmCharts (its own, made from
``spec.chart``), OCIRepositories and ExternalArtifacts become Helm releases
stored as Helm stores them, installed, upgraded, tested, rolled back and
uninstalled as Flux's helm-controller does. Takes the common controller
flags (see ``shared.runtime.options``) plus its own (``Flags``:
``--http-retry``, ``--insecure-kubeconfig-exec``, ``--insecure-kubeconfig-tls``,
``--watch-configs-label-selector``, ``--artifact-max-size``,
``--feature-gates`` (``GATES``), …). Helm's cache, config and data
directories are the process's own scratch directory, never the user's home.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import os
import sys
from collections.abc import Sequence
from typing import Any

import aiohttp

from controllers.helm import kustomizing, watching
from controllers.helm.helmrelease import caching, reconciler
from shared.api import helm, source
from shared.artifacts import extracting, fetching
from shared.kube import errors, kubectl, resourcemanager
from shared.runtime import (
    configwatching,
    features,
    informers,
    logging,
    manager,
    options,
    scratch,
)

CONTROLLER_NAME = "helm-controller"
SOURCE_KINDS = ("HelmChart", "OCIRepository", "ExternalArtifact")
SOURCE_INDEX = "source"
DEFAULT_TO_RETRY_ON_FAILURE = "DefaultToRetryOnFailure"
EXTERNAL_ARTIFACT = "ExternalArtifact"
DISABLE_CONFIG_WATCHERS = "DisableConfigWatchers"
DISABLE_CHART_DIGEST_TRACKING = "DisableChartDigestTracking"
GATES = {
    # Flux 2.9's helm-controller gates and defaults. Those named above change
    # behaviour here; the others are accepted so that a Flux deployment's
    # flags start this controller (docs/controllers.md says what each does).
    "CacheSecretsAndConfigMaps": False,
    "DetectDrift": False,
    "CorrectDrift": False,
    "AllowDNSLookups": False,
    "OOMWatch": False,
    "AdoptLegacyReleases": False,
    DISABLE_CHART_DIGEST_TRACKING: False,
    "AdditiveCELDependencyCheck": False,
    EXTERNAL_ARTIFACT: False,
    DISABLE_CONFIG_WATCHERS: False,
    "DirectSourceFetch": False,
    "UseHelm3Defaults": False,
    "CancelHealthCheckOnNewRevision": False,
    DEFAULT_TO_RETRY_ON_FAILURE: False,
}
OWNED = informers.Scope(label_selector=f"{helm.GROUP}/name")
"""The objects of releases: Flux's origin labels are on every one the engine applies."""
STORAGE = informers.Scope(label_selector=caching.OWNER_SELECTOR)
"""Helm's release storage Secrets: read from this cache when a reconcile has nothing to do."""
HELM_HOMES = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flags:
    """helm-controller's own flags (the common ones are ``options.Options``)."""

    insecure_kubeconfig_exec: bool = options.flag(
        "allow exec plugins and auth-providers in kubeconfigs read from spec.kubeConfig",
        default=False,
    )
    insecure_kubeconfig_tls: bool = options.flag(
        "allow insecure-skip-tls-verify in kubeconfigs read from spec.kubeConfig", default=False
    )
    watch_configs_label_selector: str = options.flag(
        "watch ConfigMaps and Secrets with matching labels: a change triggers the "
        "HelmReleases that reference them",
        default=configwatching.DEFAULT_SELECTOR,
    )
    http_retry: int = options.flag(
        "the maximum number of retries when failing to fetch artifacts over HTTP",
        default=fetching.RetryPolicy.retries,
    )
    feature_gates: features.FeatureGates = features.gates_flag(GATES)  # noqa: RUF009 - a field
    artifact_max_size: int = options.artifact_max_size_flag(
        "the largest chart artifact, enforced while it downloads",
        default=extracting.DEFAULT_MAX_TOTAL_SIZE,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=CONTROLLER_NAME, description=__doc__.splitlines()[0])
    options.add_common_flags(parser)
    options.add_flags(parser, Flags)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    opts = options.from_args(args)
    async with aiohttp.ClientSession() as session:
        return await manager.run_process(
            opts,
            name=CONTROLLER_NAME,
            setup=functools.partial(_setup, flags=options.parsed(Flags, args), session=session),
        )


async def _setup(mgr: manager.Manager, *, flags: Flags, session: aiohttp.ClientSession) -> None:
    opts = mgr.options
    gates = flags.feature_gates
    releases = await mgr.informer(helm.API_VERSION, "HelmRelease", scope=mgr.default_scope())
    releases.add_index(SOURCE_INDEX, watching.source_keys)
    sources: dict[str, informers.Informer] = {}
    for kind in SOURCE_KINDS:
        try:
            sources[kind] = await mgr.informer(source.API_VERSION, kind)
        except errors.NotFoundError:
            logging.get_logger().info("source kind not served; not watching it", kind=kind)

    async def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        informer = sources.get(kind)
        if informer is None:
            return None
        await informer.wait_synced()
        return informer.get(f"{namespace}/{name}")

    async def charts_live(api_version: str, kind: str) -> resourcemanager.CachedKind:
        return sources["HelmChart"] if kind == "HelmChart" else await live(api_version, kind)

    async def live(api_version: str, kind: str) -> resourcemanager.CachedKind:
        return await mgr.informer(api_version, kind, scope=OWNED)

    stored = await mgr.informer("v1", "Secret", scope=STORAGE)
    stored.add_index(caching.RELEASE_INDEX, caching.release_key)

    async def storage() -> informers.Informer:
        return stored

    controller = await mgr.add_controller(
        reconciler.HelmReleaseReconciler(
            api=mgr.api,
            discovery=mgr.discovery,
            recorder=mgr.recorder,
            releases=releases,
            source=lookup,
            charts_live=charts_live,
            live=live,
            kustomize=kustomizing.runner(kubectl.find() or "kubectl"),
            stored=storage,
            session=session,
            settings=reconciler.Settings(
                requeue_dependency=opts.requeue_dependency,
                no_cross_namespace_refs=opts.no_cross_namespace_refs,
                default_service_account=opts.default_service_account,
                insecure_kubeconfig_exec=flags.insecure_kubeconfig_exec,
                insecure_kubeconfig_tls=flags.insecure_kubeconfig_tls,
                default_to_retry=gates.enabled(DEFAULT_TO_RETRY_ON_FAILURE),
                allow_external_artifact=gates.enabled(EXTERNAL_ARTIFACT),
                chart_digest_tracking=not gates.enabled(DISABLE_CHART_DIGEST_TRACKING),
                http_retry=flags.http_retry,
                artifact_max_size=flags.artifact_max_size,
            ),
        )
    )
    for kind, informer in sources.items():
        controller.watch(
            informer,
            lambda obj, kind=kind: [  # type: ignore[misc]
                informers.key_of(k)
                for k in releases.by_index(
                    SOURCE_INDEX,
                    f"{kind}/{obj['metadata'].get('namespace')}/{obj['metadata']['name']}",
                )
            ],
            when=watching.revision_changed,
        )
    if gates.enabled(DISABLE_CONFIG_WATCHERS):
        logging.get_logger().info("ConfigMap and Secret watchers disabled by feature gate")
        return
    await configwatching.watch_configs(
        mgr,
        controller,
        releases,
        keys=watching.config_keys,
        selector=flags.watch_configs_label_selector,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.configure(level=args.log_level, encoding=args.log_encoding)
    claimed = scratch.claim(CONTROLLER_NAME)
    for variable in HELM_HOMES:
        # NB: the Helm SDK writes $HOME/.cache/helm unless told otherwise.
        os.environ[variable] = str(claimed.directory / "helm" / variable.lower())
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
