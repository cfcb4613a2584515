"""``create source helm|oci|bucket|chart``: the sources beside Git, with Flux's flags.

The objects carry what ``flux create source …`` sets, and nothing it leaves
empty (Go's ``omitempty``): a HelmRepository gets ``type: oci`` for an
``oci://`` URL; an OCIRepository and a Bucket always name their
``provider`` (``generic`` by default, as the flag does). Credentials given
as flags (``create source helm -u/-p``, ``--ca-file``, ``--cert-file`` with
``--key-file``; ``create source bucket --access-key`` with
``--secret-key``) become the Secret ``helm-<name>`` or ``bucket-<name>``,
applied first and named in ``secretRef`` — not with ``--export``, as Flux.
"""

from __future__ import annotations

import argparse
import typing
import urllib.parse
from typing import Any

from headwater.cli import creating_secrets, creatingkit, session
from shared.api import source

SOURCE_API = "source.toolkit.fluxcd.io/v1"
_REFS = {"secret_ref": "secretRef", "proxy_secret_ref": "proxySecretRef"}
_CHART_SOURCE_KINDS = typing.get_args(
    source.LocalHelmChartSourceReference.model_fields["kind"].annotation
)


def chart_source(text: str) -> tuple[str, str, str]:
    """``<kind>/<name>[.<namespace>]`` of a chart's source, its kind spelled as Flux's."""
    kind, name, namespace = creatingkit.reference(text)
    for known in _CHART_SOURCE_KINDS:
        if kind.lower() == known.lower():
            return known, name, namespace
    raise session.CliError(
        f"source kind {kind!r} is not supported, must be one of: {', '.join(_CHART_SOURCE_KINDS)}"
    )


def _ignore(args: argparse.Namespace, spec: dict[str, Any]) -> None:
    paths = [p for flag in args.ignore_paths for p in flag.split(",") if p]
    if paths:
        spec["ignore"] = "\n".join(paths)


def helm_repository(args: argparse.Namespace) -> dict[str, Any]:
    """The HelmRepository ``flux create source helm`` makes."""
    url = urllib.parse.urlsplit(args.url)
    if url.scheme not in ("http", "https", "oci"):
        raise session.CliError(
            f"url scheme '{url.scheme}' not supported, can be: http, https and oci"
        )
    if not url.hostname:
        raise session.CliError("url host is required")
    spec: dict[str, Any] = {"interval": args.interval, "url": args.url}
    if url.scheme == "oci":
        spec["type"] = "oci"
        if args.oci_provider:
            spec["provider"] = args.oci_provider
    creatingkit.given(spec, args, {"fetch_timeout": "timeout"}, refs={"secret_ref": "secretRef"})
    if args.secret_ref and args.pass_credentials:
        spec["passCredentials"] = True
    return creatingkit.flux_object(SOURCE_API, "HelmRepository", args, spec)


def helm_secret(args: argparse.Namespace, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The Secret ``helm-<name>`` from credential flags (none with ``--secret-ref``)."""
    if args.secret_ref:
        return []
    made = creating_secrets.helm(
        args,
        f"helm-{args.name}",
        username=args.username,
        password=args.password,
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
    )
    if not made["stringData"]:
        return []
    if args.pass_credentials:
        obj["spec"]["passCredentials"] = True
    return [made]


def oci_repository(args: argparse.Namespace) -> dict[str, Any]:
    """The OCIRepository ``flux create source oci`` makes."""
    if not (args.tag or args.tag_semver or args.digest):
        raise session.CliError("--tag, --tag-semver or --digest is required")
    ref = {
        field: value
        for field, value in (
            ("digest", args.digest),
            ("semver", args.tag_semver),
            ("tag", args.tag),
        )
        if value
    }
    spec: dict[str, Any] = {
        "interval": args.interval,
        "provider": args.provider,
        "ref": ref,
        "url": args.url,
    }
    creatingkit.given(spec, args, {"insecure": "insecure"})
    if args.layer_selector:
        media_type, _, operation = args.layer_selector.partition(":")
        if not media_type or operation not in ("extract", "copy"):
            raise session.CliError(
                f"invalid --layer-selector {args.layer_selector!r}: "
                "must be '<media-type>:extract' or '<media-type>:copy'"
            )
        spec["layerSelector"] = {"mediaType": media_type, "operation": operation}
    _ignore(args, spec)
    creatingkit.given(
        spec,
        args,
        {"fetch_timeout": "timeout", "service_account": "serviceAccountName"},
        refs=_REFS | {"cert_ref": "certSecretRef"},
    )
    _verify(args, spec)
    return creatingkit.flux_object(SOURCE_API, "OCIRepository", args, spec)


def _verify(args: argparse.Namespace, spec: dict[str, Any]) -> None:
    """``spec.verify`` from the ``--verify-*`` flags, refused without a provider."""
    if not args.verify_provider:
        if args.verify_secret_ref:
            raise session.CliError(
                "a verification provider must be specified when a secret is specified"
            )
        if args.verify_issuer or args.verify_subject:
            raise session.CliError(
                "a verification provider must be specified when OIDC issuer/subject is specified"
            )
        return
    verify: dict[str, Any] = {"provider": args.verify_provider}
    creatingkit.given(verify, args, {}, refs={"verify_secret_ref": "secretRef"})
    if args.verify_issuer or args.verify_subject:
        identity = {"issuer": args.verify_issuer or "", "subject": args.verify_subject or ""}
        verify["matchOIDCIdentity"] = [identity]
    spec["verify"] = verify


def bucket(args: argparse.Namespace) -> dict[str, Any]:
    """The Bucket ``flux create source bucket`` makes."""
    spec: dict[str, Any] = {
        "bucketName": args.bucket_name,
        "endpoint": args.endpoint,
        "interval": args.interval,
        "provider": args.provider,
    }
    creatingkit.given(
        spec, args, {"region": "region", "insecure": "insecure", "fetch_timeout": "timeout"},
        refs=_REFS,
    )  # fmt: skip
    _ignore(args, spec)
    return creatingkit.flux_object(SOURCE_API, "Bucket", args, spec)


def bucket_secret(args: argparse.Namespace, _: dict[str, Any]) -> list[dict[str, Any]]:
    """The Secret ``bucket-<name>`` from ``--access-key`` and ``--secret-key``."""
    if args.secret_ref or not (args.access_key and args.secret_key):
        return []
    data = {"accesskey": args.access_key, "secretkey": args.secret_key}
    return [creatingkit.secret(args, f"bucket-{args.name}", data)]


def helm_chart(args: argparse.Namespace) -> dict[str, Any]:
    """The HelmChart ``flux create source chart`` makes."""
    kind, name, _ = chart_source(args.source)
    spec: dict[str, Any] = {
        "chart": args.chart,
        "interval": args.interval,
        "reconcileStrategy": args.reconcile_strategy,
        "sourceRef": {"kind": kind, "name": name},
    }
    creatingkit.given(spec, args, {"chart_version": "version"})
    _verify(args, spec)
    return creatingkit.flux_object(SOURCE_API, "HelmChart", args, spec)


def _verify_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verify-provider", choices=("cosign", "notation"))
    parser.add_argument("--verify-secret-ref", help="the Secret with the verification keys")
    parser.add_argument("--verify-subject", help="regular expression of the OIDC subject")
    parser.add_argument("--verify-issuer", help="regular expression of the OIDC issuer")


def _source_flags(
    parser: argparse.ArgumentParser, build: Any, secrets: creatingkit.Secrets | None = None
) -> None:
    creatingkit.common_flags(parser, build, secrets=secrets)
    creatingkit.interval_flag(parser, "how often to fetch")
    parser.add_argument("--fetch-timeout", type=creatingkit.interval, help="timeout of a fetch")


def register(
    source: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    helm = source.add_parser("helm", parents=[common], help="a HelmRepository")
    _source_flags(helm, helm_repository, helm_secret)
    helm.add_argument("--url", required=True, help="the repository URL (http, https or oci)")
    helm.add_argument("-u", "--username", help="the basic-auth username")
    helm.add_argument("-p", "--password", help="the basic-auth password")
    helm.add_argument("--cert-file", help="the TLS client certificate file")
    helm.add_argument("--key-file", help="the TLS client key file")
    helm.add_argument("--ca-file", help="the TLS CA file")
    helm.add_argument("--secret-ref", help="an existing Secret with the credentials")
    helm.add_argument("--oci-provider", help="the OCI provider to authenticate with")
    helm.add_argument(
        "--pass-credentials", action="store_true", help="pass the credentials to every domain"
    )

    oci = source.add_parser("oci", parents=[common], help="an OCIRepository")
    _source_flags(oci, oci_repository)
    oci.add_argument("--url", required=True, help="the OCI repository URL")
    oci.add_argument("--tag", help="the artifact tag")
    oci.add_argument("--tag-semver", help="the artifact tag semver range")
    oci.add_argument("--digest", help="the artifact digest")
    oci.add_argument("--provider", default="generic", choices=("generic", "aws", "azure", "gcp"))
    oci.add_argument("--secret-ref", help="an image pull Secret")
    oci.add_argument("--proxy-secret-ref", help="a Secret with the proxy address")
    oci.add_argument("--service-account", help="a ServiceAccount with image pull Secrets")
    oci.add_argument("--cert-ref", help="a Secret with TLS certificates")
    oci.add_argument("--ignore-paths", action="append", default=[], help="paths to ignore")
    oci.add_argument("--insecure", action="store_true", help="plain HTTP to the registry")
    oci.add_argument("--layer-selector", help="<media-type>:extract or <media-type>:copy")
    _verify_flags(oci)

    buckets = source.add_parser("bucket", parents=[common], help="a Bucket")
    _source_flags(buckets, bucket, bucket_secret)
    buckets.add_argument("--bucket-name", required=True, help="the bucket name")
    buckets.add_argument("--endpoint", required=True, help="the bucket endpoint address")
    buckets.add_argument(
        "--provider", default="generic", choices=("generic", "aws", "gcp", "azure")
    )
    buckets.add_argument("--access-key", help="the access key")
    buckets.add_argument("--secret-key", help="the secret key")
    buckets.add_argument("--region", help="the bucket region")
    buckets.add_argument("--insecure", action="store_true", help="plain HTTP to the endpoint")
    buckets.add_argument("--secret-ref", help="an existing Secret with the credentials")
    buckets.add_argument("--proxy-secret-ref", help="a Secret with the proxy address")
    buckets.add_argument("--ignore-paths", action="append", default=[], help="paths to ignore")

    chart = source.add_parser("chart", parents=[common], help="a HelmChart")
    creatingkit.common_flags(chart, helm_chart)
    creatingkit.interval_flag(chart, "how often to check for a new chart version")
    chart.add_argument("--source", required=True, help="<kind>/<name> of the chart's source")
    chart.add_argument("--chart", required=True, help="the chart's name or path")
    chart.add_argument("--chart-version", help="the chart's version or semver range")
    chart.add_argument(
        "--reconcile-strategy", default="ChartVersion", choices=("ChartVersion", "Revision")
    )
    _verify_flags(chart)
