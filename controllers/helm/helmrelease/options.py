"""A HelmRelease's spec in the engine's terms, with Flux's defaults (pure).

- names: the release name (``spec.releaseName``, else ``[targetNamespace-]name``,
  shortened as Flux shortens names over Helm's 53 characters), the release
  namespace (``targetNamespace``, else the HelmRelease's) and the storage
  namespace (``storageNamespace``, else the HelmRelease's);
- the engine's requests for install, upgrade, test, rollback and uninstall:
  timeouts from the action's own, else ``spec.timeout``, else 5m
  (``state.timeout_of``), ``maxHistory`` 5 unless set (0: unlimited), CRD
  policy Create on install and Skip on upgrade, Flux's origin labels,
  ``commonMetadata`` and ``postRenderers``, the apply method
  (``serverSideApply``: install true unless false, upgrade and rollback
  ``auto`` unless set) and the health readers (``healthCheckExprs``, used by
  the ``poller`` wait strategy only, as in Flux; ``legacy`` ignores them);
- ``spec_digest``: Flux's digest of ``postRenderers`` and ``commonMetadata``,
  recorded as ``observedPostRenderersDigest`` / ``observedCommonMetadataDigest``;
- ``handle_request``: the ``forceAt`` / ``resetAt`` rule (the annotation
  carries the token of ``requestedAt`` and was not handled before);
  ``must_reset_failures``: Flux's rule for starting the failure counts over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import helm_python

from controllers.helm import state
from controllers.helm.engine import digests, requests
from shared.api import helm, meta, objects
from shared.kube import health, healthexprs

MAX_RELEASE_NAME = 53
DEFAULT_MAX_HISTORY = 5


def release_name(obj: helm.HelmRelease) -> str:
    """Flux's release name (see the module docstring)."""
    name = obj.spec.release_name or (
        f"{obj.spec.target_namespace}-{obj.metadata.name}"
        if obj.spec.target_namespace
        else obj.metadata.name or ""
    )
    if len(name) <= MAX_RELEASE_NAME:
        return name
    return f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def release_namespace(obj: helm.HelmRelease) -> str:
    return obj.spec.target_namespace or obj.metadata.namespace or "default"


def storage_namespace(obj: helm.HelmRelease) -> str:
    return obj.spec.storage_namespace or obj.metadata.namespace or "default"


def origin(obj: helm.HelmRelease) -> requests.Origin:
    """The HelmRelease as the owner of a release (Flux's origin labels)."""
    return requests.Origin(
        name=obj.metadata.name or "", namespace=obj.metadata.namespace or "default"
    )


def _max_history(spec: helm.HelmReleaseSpec) -> int:
    return DEFAULT_MAX_HISTORY if spec.max_history is None else spec.max_history


def health_readers(obj: helm.HelmRelease) -> tuple[health.Reader, ...]:
    """The readers ``healthCheckExprs`` compile to (none under the ``legacy`` wait strategy).

    Raises ``healthexprs.InvalidExpressionError`` for expressions the user must fix
    (the compile is cached process-wide, so asking again per action is cheap).
    """
    spec = obj.spec
    if spec.wait_strategy is not None and spec.wait_strategy.name == "legacy":
        return ()
    checks = healthexprs.compile_checks([objects.dump(c) for c in spec.health_check_exprs or []])
    return (checks.read,) if checks else ()


def _rendering(
    obj: helm.HelmRelease, chart: helm_python.Chart, values: Mapping[str, Any]
) -> dict[str, Any]:
    spec = obj.spec
    common = spec.common_metadata
    return {
        "release_name": release_name(obj),
        "namespace": release_namespace(obj),
        "chart": chart,
        "values": values,
        "origin": origin(obj),
        "post_renderers": tuple(spec.post_renderers or ()),
        "post_render_strategy": requests.PostRenderStrategy(
            spec.post_render_strategy or requests.PostRenderStrategy.COMBINED
        ),
        "common_labels": dict((common.labels if common else None) or {}),
        "common_annotations": dict((common.annotations if common else None) or {}),
    }


def install_request(
    obj: helm.HelmRelease, chart: helm_python.Chart, values: Mapping[str, Any]
) -> requests.InstallRequest:
    spec = obj.spec
    options = spec.install or helm.Install()
    crds = options.crds or ("Skip" if options.skip_crds else "Create")
    return requests.InstallRequest(
        **_rendering(obj, chart, values),
        disable_schema_validation=bool(options.disable_schema_validation),
        disable_openapi_validation=bool(options.disable_open_api_validation),
        timeout=state.timeout_of(obj, state.Action.INSTALL),
        disable_wait=bool(options.disable_wait),
        disable_wait_for_jobs=bool(options.disable_wait_for_jobs),
        disable_hooks=bool(options.disable_hooks),
        crds=requests.CRDPolicy(crds),
        create_namespace=bool(options.create_namespace),
        replace=bool(options.replace),
        max_history=_max_history(spec),
        take_ownership=not options.disable_take_ownership,
        server_side_apply=options.server_side_apply is not False,
        health_readers=health_readers(obj),
    )


def upgrade_request(
    obj: helm.HelmRelease, chart: helm_python.Chart, values: Mapping[str, Any]
) -> requests.UpgradeRequest:
    spec = obj.spec
    options = spec.upgrade or helm.Upgrade()
    return requests.UpgradeRequest(
        **_rendering(obj, chart, values),
        disable_schema_validation=bool(options.disable_schema_validation),
        disable_openapi_validation=bool(options.disable_open_api_validation),
        timeout=state.timeout_of(obj, state.Action.UPGRADE),
        disable_wait=bool(options.disable_wait),
        disable_wait_for_jobs=bool(options.disable_wait_for_jobs),
        disable_hooks=bool(options.disable_hooks),
        crds=requests.CRDPolicy(options.crds or "Skip"),
        force=bool(options.force),
        cleanup_on_fail=bool(options.cleanup_on_fail),
        preserve_values=bool(options.preserve_values),
        max_history=_max_history(spec),
        take_ownership=not options.disable_take_ownership,
        server_side_apply=options.server_side_apply or "auto",
        health_readers=health_readers(obj),
    )


def test_request(obj: helm.HelmRelease) -> requests.TestRequest:
    options = obj.spec.test or helm.Test()
    return requests.TestRequest(
        release_name=release_name(obj),
        timeout=state.timeout_of(obj, state.Action.TEST),
        filters=tuple(options.filters or ()),
    )


def rollback_request(obj: helm.HelmRelease, to_version: int) -> requests.RollbackRequest:
    options = obj.spec.rollback or helm.Rollback()
    return requests.RollbackRequest(
        release_name=release_name(obj),
        to_version=to_version,
        timeout=state.timeout_of(obj, state.Action.ROLLBACK),
        disable_wait=bool(options.disable_wait),
        disable_wait_for_jobs=bool(options.disable_wait_for_jobs),
        disable_hooks=bool(options.disable_hooks),
        force=bool(options.force),
        cleanup_on_fail=bool(options.cleanup_on_fail),
        max_history=_max_history(obj.spec),
        origin=origin(obj),
        server_side_apply=options.server_side_apply or "auto",
        health_readers=health_readers(obj),
    )


def uninstall_request(obj: helm.HelmRelease, name: str) -> requests.UninstallRequest:
    """Uninstall release ``name`` (the current one: the release name may have changed since)."""
    options = obj.spec.uninstall or helm.Uninstall()
    return requests.UninstallRequest(
        release_name=name,
        timeout=state.timeout_of(obj, state.Action.UNINSTALL),
        keep_history=bool(options.keep_history),
        disable_hooks=bool(options.disable_hooks),
        disable_wait=bool(options.disable_wait),
        deletion_propagation=options.deletion_propagation,
    )


def spec_digest(value: Any) -> str | None:
    """Flux's digest of ``spec.postRenderers`` or ``spec.commonMetadata`` (None when unset)."""
    if value is None:
        return None
    dumped = (
        [objects.dump(item) for item in value] if isinstance(value, list) else objects.dump(value)
    )
    return "sha256:" + hashlib.sha256(digests.go_json(dumped)).hexdigest()


def handle_request(obj: helm.HelmRelease, annotation: str, handled: str | None) -> str | None:
    """The token of a ``forceAt`` or ``resetAt`` request not handled yet, else None.

    As in Flux, the annotation must carry the same token as
    ``reconcile.fluxcd.io/requestedAt`` (``flux reconcile hr --force`` sets both).
    """
    annotations = obj.metadata.annotations or {}
    token = annotations.get(annotation)
    if not token or annotations.get(meta.RECONCILE_REQUEST_ANNOTATION) != token:
        return None
    return None if token == handled else token


def must_reset_failures(obj: helm.HelmRelease, chart_version: str, config_digest: str) -> bool:
    """Flux's ``MustResetFailures``: the failures counted were for something else."""
    status = obj.status or helm.HelmReleaseStatus()
    reset = handle_request(obj, meta.RESET_REQUEST_ANNOTATION, status.last_handled_reset_at)
    if reset is not None:
        status.last_handled_reset_at = reset
    return (
        status.last_attempted_generation != obj.metadata.generation
        or status.last_attempted_revision != chart_version
        or (
            status.last_attempted_config_digest is not None
            and status.last_attempted_config_digest != config_digest
        )
        or reset is not None
    )
