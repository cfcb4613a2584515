"""kustomize-controller: ``python -m controllers.kustomize`` (or ``kustomize-controller``).

Reconciles Kustomizations: builds source artifacts with kustomize and applies
them with server-side apply, pruning, drift correction and health checks.
Takes the common controller flags (see ``shared.runtime.options``) plus its
own (``Flags``: ``--no-remote-bases``, ``--concurrent-ssa``,
``--default-decryption-service-account``, ``--override-manager``,
``--custom-apply-stage-kinds``, ``--sops-age-secret``,
``--watch-configs-label-selector`` (see ``watching``), ``--http-retry``,
``--feature-gates`` (``GATES``), …).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import sys
from collections.abc import Sequence
from typing import Any

import aiohttp

from controllers.kustomize import watching
from controllers.kustomize.kustomization import reconciler
from shared.api import kustomize
from shared.artifacts import extracting, fetching
from shared.kube import errors, inventory, kubectl, resourcemanager
from shared.runtime import features, informers, logging, manager, options, scratch

CONTROLLER_NAME = "kustomize-controller"
SOURCE_KINDS = {
    "GitRepository": "source.toolkit.fluxcd.io/v1",
    "OCIRepository": "source.toolkit.fluxcd.io/v1",
    "Bucket": "source.toolkit.fluxcd.io/v1",
    "ExternalArtifact": "source.toolkit.fluxcd.io/v1",
}
SOURCE_INDEX = "source"
STRICT_SUBSTITUTIONS = "StrictPostBuildSubstitutions"
DISABLE_CONFIG_WATCHERS = "DisableConfigWatchers"
ADDITIVE_CEL = "AdditiveCELDependencyCheck"
CANCEL_HEALTH_CHECKS = "CancelHealthCheckOnNewRevision"
GATES = {
    # Flux 2.9's kustomize-controller gates and defaults. The four above change
    # behaviour here; the others are accepted so a Flux deployment's flags start
    # this controller, and docs/controllers.md says what each does or not.
    "CacheSecretsAndConfigMaps": False,
    "DisableStatusPollerCache": True,
    "DisableFailFastBehavior": False,
    STRICT_SUBSTITUTIONS: True,
    "GroupChangeLog": False,
    ADDITIVE_CEL: False,
    "ExternalArtifact": False,
    CANCEL_HEALTH_CHECKS: False,
    DISABLE_CONFIG_WATCHERS: False,
    "DirectSourceFetch": False,
    "MigrateAPIVersion": False,
    "ObjectLevelWorkloadIdentity": False,
}
OWNED = informers.Scope(label_selector=f"{resourcemanager.KUSTOMIZE_GROUP}/name")


def _group_kinds(value: str) -> frozenset[tuple[str, str]]:
    try:
        return inventory.parse_group_kinds(value)
    except ValueError as invalid:
        raise argparse.ArgumentTypeError(str(invalid)) from invalid


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flags:
    """kustomize-controller's own flags (the common ones are ``options.Options``)."""

    no_remote_bases: bool = options.flag(
        "refuse kustomize remote bases (only files in the source artifact)", default=False
    )
    insecure_kubeconfig_exec: bool = options.flag(
        "allow exec plugins and auth-providers in kubeconfigs read from spec.kubeConfig",
        default=False,
    )
    insecure_kubeconfig_tls: bool = options.flag(
        "allow insecure-skip-tls-verify in kubeconfigs read from spec.kubeConfig", default=False
    )
    concurrent_ssa: int = options.flag("objects applied concurrently per reconcile", default=4)
    default_decryption_service_account: str = options.flag(
        "service account used for decryption when a Kustomization names none", default=""
    )
    override_manager: tuple[str, ...] = options.flag(
        "a field manager whose fields are taken over on apply (repeatable); kubectl, "
        "before-first-apply and kustomize-controller's own updates always are",
        default=(),
    )
    custom_apply_stage_kinds: frozenset[tuple[str, str]] = options.flag(
        "comma-separated group/Kind list (e.g. rbac.authorization.k8s.io/Role) applied in "
        "a stage of their own after CRDs and classes and before the other objects",
        default=frozenset(),
        parse=_group_kinds,
    )
    sops_age_secret: str = options.flag(
        "a Secret in the runtime namespace whose *.agekey entries decrypt every "
        "Kustomization with SOPS decryption and no spec.decryption.secretRef",
        default="",
    )
    watch_configs_label_selector: str = options.flag(
        "watch ConfigMaps and Secrets with matching labels: a change triggers the "
        "Kustomizations that reference them",
        default=watching.DEFAULT_SELECTOR,
    )
    http_retry: int = options.flag(
        "the maximum number of retries when failing to fetch artifacts over HTTP",
        default=fetching.RetryPolicy.retries,
    )
    feature_gates: features.FeatureGates = features.gates_flag(GATES)  # noqa: RUF009 - a field
    artifact_max_size: int = options.artifact_max_size_flag(
        "the largest total size of the files in a source artifact, enforced while "
        "it downloads and extracts",
        default=extracting.DEFAULT_MAX_TOTAL_SIZE,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=CONTROLLER_NAME, description=__doc__.splitlines()[0])
    options.add_common_flags(parser)
    options.add_flags(parser, Flags)
    return parser.parse_args(argv)


def _source_key(obj: dict[str, Any]) -> list[str]:
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    namespace = ref.get("namespace") or obj["metadata"].get("namespace")
    return [f"{ref.get('kind')}/{namespace}/{ref.get('name')}"]


def _revision_changed(_: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    def revision(obj: dict[str, Any] | None) -> Any:
        return (((obj or {}).get("status") or {}).get("artifact") or {}).get("revision")

    return bool(revision(new) != revision(old))


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
    kustomizations = await mgr.informer(
        kustomize.API_VERSION, "Kustomization", scope=mgr.default_scope()
    )
    kustomizations.add_index(SOURCE_INDEX, _source_key)
    sources: dict[str, informers.Informer] = {}
    for kind, api_version in SOURCE_KINDS.items():
        try:
            sources[kind] = await mgr.informer(api_version, kind)
        except errors.NotFoundError:
            logging.get_logger().info("source kind not served; not watching it", kind=kind)

    async def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        informer = sources.get(kind)
        if informer is None:
            return None
        await informer.wait_synced()
        return informer.get(f"{namespace}/{name}")

    async def live(api_version: str, kind: str) -> resourcemanager.CachedKind:
        return await mgr.informer(api_version, kind, scope=OWNED)

    controller = await mgr.add_controller(
        reconciler.KustomizationReconciler(
            api=mgr.api,
            discovery=mgr.discovery,
            recorder=mgr.recorder,
            kustomizations=kustomizations,
            source=lookup,
            live=live,
            session=session,
            settings=reconciler.Settings(
                requeue_dependency=opts.requeue_dependency,
                no_cross_namespace_refs=opts.no_cross_namespace_refs,
                no_remote_bases=flags.no_remote_bases,
                default_service_account=opts.default_service_account,
                default_decryption_service_account=flags.default_decryption_service_account,
                sops_age_secret=flags.sops_age_secret,
                runtime_namespace=opts.runtime_namespace,
                kubectl=kubectl.find() or "kubectl",
                concurrent_ssa=flags.concurrent_ssa,
                artifact_max_size=flags.artifact_max_size,
                insecure_kubeconfig_exec=flags.insecure_kubeconfig_exec,
                insecure_kubeconfig_tls=flags.insecure_kubeconfig_tls,
                override_managers=flags.override_manager,
                custom_stage_kinds=flags.custom_apply_stage_kinds,
                http_retry=flags.http_retry,
                strict_substitutions=flags.feature_gates.enabled(STRICT_SUBSTITUTIONS),
                additive_cel_dependencies=flags.feature_gates.enabled(ADDITIVE_CEL),
                cancel_health_checks=flags.feature_gates.enabled(CANCEL_HEALTH_CHECKS),
            ),
        ),
        # NB: added just before the first object is written, the finalizer also
        # marks a Kustomization whose first apply may have been cut short
        # (``KustomizationReconciler._recover``).
        lazy_finalizer=True,
    )
    for kind, informer in sources.items():
        controller.watch(
            informer,
            lambda obj, kind=kind: [  # type: ignore[misc]
                informers.key_of(k)
                for k in kustomizations.by_index(
                    SOURCE_INDEX,
                    f"{kind}/{obj['metadata'].get('namespace')}/{obj['metadata']['name']}",
                )
            ],
            when=_revision_changed,
        )
    if flags.feature_gates.enabled(DISABLE_CONFIG_WATCHERS):
        logging.get_logger().info("ConfigMap and Secret watchers disabled by feature gate")
        return
    await watching.watch_configs(
        mgr, controller, kustomizations, selector=flags.watch_configs_label_selector
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.configure(level=args.log_level, encoding=args.log_encoding)
    scratch.claim(CONTROLLER_NAME)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
