"""``create helmrelease``, with Flux's flags.

The chart comes from ``--source <kind>/<name>[.<namespace>]`` (a
HelmRepository, GitRepository or Bucket) with ``--chart`` — a
``spec.chart`` template helm-controller turns into a HelmChart — or from
``--chart-ref <kind>/<name>[.<namespace>]`` (an OCIRepository or a
HelmChart), never both. ``--values`` merges local YAML files into
``spec.values`` (later files win, maps merged deeply, as Flux);
``--values-from`` takes ``Secret/<name>`` or ``ConfigMap/<name>``; ``--crds``
sets the install and upgrade CRD policies; ``--target-namespace`` is also
the storage namespace unless ``--storage-namespace`` says otherwise.
"""

from __future__ import annotations

import argparse
import pathlib
from typing import Any

import yaml

from controllers.source.helm import charts
from headwater.cli import creating_sources, creatingkit, session

HELM_API = "helm.toolkit.fluxcd.io/v2"
CHART_REF_KINDS = ("OCIRepository", "HelmChart")
VALUES_FROM_KINDS = ("Secret", "ConfigMap")


def _values(files: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in (f for flag in files for f in flag.split(",") if f):
        try:
            loaded = yaml.safe_load(pathlib.Path(name).read_text()) or {}
        except yaml.YAMLError as error:
            raise session.CliError(f"reading values from {name} failed: {error}") from error
        if not isinstance(loaded, dict):
            raise session.CliError(f"reading values from {name} failed: not a YAML map")
        values = charts.merge_maps(values, loaded)
    return values


def _chart(args: argparse.Namespace) -> dict[str, Any]:
    if args.chart:
        if not args.source:
            raise session.CliError("--source is required with --chart")
        kind, name, namespace = creating_sources.chart_source(args.source)
        template: dict[str, Any] = {
            "chart": args.chart,
            "reconcileStrategy": args.reconcile_strategy,
            "sourceRef": creatingkit.cross_ref(kind, name, namespace),
        }
        creatingkit.given(
            template, args, {"chart_version": "version", "chart_interval": "interval"}
        )
        return {"chart": {"spec": template}}
    kind, name, namespace = creatingkit.reference(args.chart_ref)
    if kind not in CHART_REF_KINDS:
        raise session.CliError(
            f"chart reference kind '{kind}' is not supported, "
            f"must be one of: {', '.join(CHART_REF_KINDS)}"
        )
    return {"chartRef": creatingkit.cross_ref(kind, name, namespace)}


def _values_from(references: list[str]) -> list[dict[str, str]]:
    found = []
    for text in (r for flag in references for r in flag.split(",") if r):
        kind, _, name = text.partition("/")
        spelled = next((k for k in VALUES_FROM_KINDS if k.lower() == kind.lower()), None)
        if not name or spelled is None:
            raise session.CliError(
                f"invalid values reference '{text}', must be <kind>/<name> "
                f"with kind one of: {', '.join(VALUES_FROM_KINDS)}"
            )
        found.append({"kind": spelled, "name": name})
    return found


def helm_release(args: argparse.Namespace) -> dict[str, Any]:
    """The HelmRelease ``flux create helmrelease`` makes."""
    if bool(args.chart) == bool(args.chart_ref):
        raise session.CliError("give one of --chart (with --source) or --chart-ref")
    spec: dict[str, Any] = {"interval": args.interval, **_chart(args)}
    fields = {
        "release_name": "releaseName",
        "target_namespace": "targetNamespace",
        "storage_namespace": "storageNamespace",
        "service_account": "serviceAccountName",
    }
    creatingkit.given(spec, args, fields)
    if args.target_namespace and not args.storage_namespace:
        spec["storageNamespace"] = args.target_namespace
    if args.depends_on:
        spec["dependsOn"] = []
        for text in (d for flag in args.depends_on for d in flag.split(",") if d):
            namespace, _, name = text.rpartition("/")
            spec["dependsOn"].append(
                {"name": name, **({"namespace": namespace} if namespace else {})}
            )
    if args.kubeconfig_secret_ref:
        spec["kubeConfig"] = {"secretRef": creatingkit.local_ref(args.kubeconfig_secret_ref)}
    install: dict[str, Any] = {}
    if args.create_target_namespace:
        install["createNamespace"] = True
    if args.crds:
        install["crds"] = "Create"
        spec["upgrade"] = {"crds": args.crds}
    if install:
        spec["install"] = install
    values = _values(args.values)
    if values:
        spec["values"] = values
    if args.values_from:
        spec["valuesFrom"] = _values_from(args.values_from)
    return creatingkit.flux_object(HELM_API, "HelmRelease", args, spec)


def register(
    what: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    release = what.add_parser("helmrelease", aliases=["hr"], parents=[common], help="a HelmRelease")
    creatingkit.common_flags(release, helm_release)
    creatingkit.interval_flag(release, "how often to reconcile the release")
    release.add_argument("--source", help="<kind>/<name>[.<namespace>] of the chart's source")
    release.add_argument("--chart", help="the chart's name or path in the source")
    release.add_argument("--chart-version", help="the chart's version or semver range")
    release.add_argument("--chart-ref", help="<kind>/<name>[.<namespace>]: OCIRepository|HelmChart")
    release.add_argument(
        "--chart-interval", type=creatingkit.interval, help="how often to check the chart"
    )
    release.add_argument(
        "--reconcile-strategy", default="ChartVersion", choices=("ChartVersion", "Revision")
    )
    release.add_argument("--release-name", help="default: [<target-namespace>-]<name>")
    release.add_argument("--target-namespace", help="the namespace to install into")
    release.add_argument("--storage-namespace", help="where Helm stores the release")
    release.add_argument(
        "--create-target-namespace", action="store_true", help="create it when missing"
    )
    release.add_argument("--service-account", help="the ServiceAccount to impersonate")
    release.add_argument(
        "--depends-on", action="append", default=[], help="[<namespace>/]<name> (repeatable)"
    )
    release.add_argument(
        "--values", action="append", default=[], help="a local values.yaml file (repeatable)"
    )
    release.add_argument(
        "--values-from", action="append", default=[], help="Secret/<name> or ConfigMap/<name>"
    )
    release.add_argument("--crds", choices=("Skip", "Create", "CreateReplace"))
    release.add_argument("--kubeconfig-secret-ref", help="a Secret with a remote kubeconfig")
