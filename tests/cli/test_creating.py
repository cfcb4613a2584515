"""``headwater create … --export``: the YAML ``flux create … --export`` prints, byte for byte.

Each case is a flux command line and the document Flux's CLI prints for it
(the shapes of its golden files: ``---``, keys sorted at every level,
durations as Go prints them, nothing Go's ``omitempty`` leaves out). The
command runs in the test's process (``--export`` needs no cluster); its
subprocess runs are in tests/e2e/test_cli_kinds.py.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import pytest

from headwater.cli import main


@dataclasses.dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def headwater(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``headwater ARGS…`` in this process: its exit code and what it printed."""

    def run(*args: str) -> Result:
        code = main.main(list(args))
        printed = capsys.readouterr()
        return Result(code, printed.out, printed.err)

    return run


def _meta(
    api_version: str, kind: str, name: str = "podinfo", namespace: str = "flux-system"
) -> str:
    return (
        f"---\napiVersion: {api_version}\nkind: {kind}\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
    )


SOURCE = "source.toolkit.fluxcd.io/v1"
HELM = "helm.toolkit.fluxcd.io/v2"
IMAGE = "image.toolkit.fluxcd.io/v1"
BETA3 = "notification.toolkit.fluxcd.io/v1beta3"

CASES = {
    "git repository on a branch": (
        "create source git podinfo --url=https://github.com/stefanprodan/podinfo --branch=test "
        "--ignore-paths=.cosign --ignore-paths=non-existent-dir/",
        _meta(SOURCE, "GitRepository") + "spec:\n  ignore: |-\n    .cosign\n"
        "    non-existent-dir/\n  interval: 1m0s\n  ref:\n    branch: test\n"
        "  url: https://github.com/stefanprodan/podinfo\n",
    ),
    "kustomization": (
        "create kustomization podinfo --source=GitRepository/podinfo --path=./kustomize --prune "
        "--interval=5m",
        _meta("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
        + "spec:\n  interval: 5m0s\n  path: ./kustomize\n  prune: true\n  sourceRef:\n"
        "    kind: GitRepository\n    name: podinfo\n",
    ),
    "helm repository over https": (
        "create source helm podinfo --url=https://stefanprodan.github.io/charts/podinfo "
        "--interval 5m",
        _meta(SOURCE, "HelmRepository")
        + "spec:\n  interval: 5m0s\n  url: https://stefanprodan.github.io/charts/podinfo\n",
    ),
    "helm repository in an OCI registry, with a Secret": (
        "create source helm podinfo --url=oci://ghcr.io/stefanprodan/charts/podinfo "
        "--interval 5m --secret-ref=creds",
        _meta(SOURCE, "HelmRepository") + "spec:\n  interval: 5m0s\n  secretRef:\n    name: creds\n"
        "  type: oci\n  url: oci://ghcr.io/stefanprodan/charts/podinfo\n",
    ),
    "oci repository by semver, ignoring paths": (
        "create source oci podinfo --url=oci://ghcr.io/stefanprodan/manifests/podinfo "
        "--tag-semver=6.x --ignore-paths=a/,b/ --fetch-timeout 90s",
        _meta(SOURCE, "OCIRepository") + "spec:\n  ignore: |-\n    a/\n    b/\n"
        "  interval: 1m0s\n  provider: generic\n  ref:\n    semver: 6.x\n  timeout: 1m30s\n"
        "  url: oci://ghcr.io/stefanprodan/manifests/podinfo\n",
    ),
    "bucket": (
        "create source bucket podinfo --bucket-name=charts --endpoint=minio.minio:9000 "
        "--insecure --interval 1h",
        _meta(SOURCE, "Bucket") + "spec:\n  bucketName: charts\n  endpoint: minio.minio:9000\n"
        "  insecure: true\n  interval: 1h0m0s\n  provider: generic\n",
    ),
    "helm chart verified by cosign": (
        "create source chart podinfo --source HelmRepository/podinfo --chart podinfo "
        "--verify-provider cosign --verify-issuer foo --verify-subject bar",
        _meta(SOURCE, "HelmChart") + "spec:\n  chart: podinfo\n  interval: 1m0s\n"
        "  reconcileStrategy: ChartVersion\n  sourceRef:\n    kind: HelmRepository\n"
        "    name: podinfo\n  verify:\n    matchOIDCIdentity:\n    - issuer: foo\n"
        "      subject: bar\n    provider: cosign\n",
    ),
    "helm release from a chart template": (
        "create helmrelease podinfo --source Helmrepository/podinfo --chart podinfo "
        "--interval=1m0s",
        _meta(HELM, "HelmRelease") + "spec:\n  chart:\n    spec:\n      chart: podinfo\n"
        "      reconcileStrategy: ChartVersion\n      sourceRef:\n        kind: HelmRepository\n"
        "        name: podinfo\n  interval: 1m0s\n",
    ),
    "helm release from an OCIRepository": (
        "create helmrelease podinfo --chart-ref OCIRepository/podinfo --interval=1m0s",
        _meta(HELM, "HelmRelease")
        + "spec:\n  chartRef:\n    kind: OCIRepository\n    name: podinfo\n  interval: 1m0s\n",
    ),
    "helm release from a HelmChart": (
        "create helmrelease podinfo --chart-ref HelmChart/podinfo --interval=1m0s",
        _meta(HELM, "HelmRelease")
        + "spec:\n  chartRef:\n    kind: HelmChart\n    name: podinfo\n  interval: 1m0s\n",
    ),
    "image update without signing": (
        "create image update flux-system --git-repo-ref=flux-system --checkout-branch=main "
        "--author-name=flux --author-email=flux@example.com --interval=1m0s",
        _meta(IMAGE, "ImageUpdateAutomation", name="flux-system")
        + "spec:\n  git:\n    checkout:\n      ref:\n        branch: main\n    commit:\n"
        "      author:\n        email: flux@example.com\n        name: flux\n  interval: 1m0s\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
    ),
    "image update signed with GPG by default": (
        "create image update flux-system --git-repo-ref=flux-system --checkout-branch=main "
        "--author-name=flux --author-email=flux@example.com --signing-key-secret=my-key",
        _meta(IMAGE, "ImageUpdateAutomation", name="flux-system")
        + "spec:\n  git:\n    checkout:\n      ref:\n        branch: main\n    commit:\n"
        "      author:\n        email: flux@example.com\n        name: flux\n"
        "      signingKey:\n        secretRef:\n          name: my-key\n  interval: 1m0s\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
    ),
    "image update signed with SSH": (
        "create image update flux-system --git-repo-ref=flux-system --checkout-branch=main "
        "--author-name=flux --author-email=flux@example.com --signing-key-secret=my-deploy-key "
        "--signing-key-type=ssh",
        _meta(IMAGE, "ImageUpdateAutomation", name="flux-system")
        + "spec:\n  git:\n    checkout:\n      ref:\n        branch: main\n    commit:\n"
        "      author:\n        email: flux@example.com\n        name: flux\n"
        "      signingKey:\n        secretRef:\n          name: my-deploy-key\n        type: ssh\n"
        "  interval: 1m0s\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
    ),
    "image repository": (
        "create image repository podinfo --image=ghcr.io/stefanprodan/podinfo --interval=5m",
        _meta(IMAGE, "ImageRepository")
        + "spec:\n  image: ghcr.io/stefanprodan/podinfo\n  interval: 5m0s\n",
    ),
    "image policy with a tag filter": (
        "create image policy podinfo --image-ref=podinfo --select-numeric=asc "
        "--filter-regex=^main-[a-f0-9]+-(?P<ts>[0-9]+) --filter-extract=$ts",
        _meta(IMAGE, "ImagePolicy") + "spec:\n  filterTags:\n    extract: $ts\n"
        "    pattern: ^main-[a-f0-9]+-(?P<ts>[0-9]+)\n  imageRepositoryRef:\n    name: podinfo\n"
        "  policy:\n    numerical:\n      order: asc\n",
    ),
    "alert": (
        "create alert podinfo --provider-ref slack --event-severity info "
        "--event-source GitRepository/*,Kustomization/apps.prod",
        _meta(BETA3, "Alert") + "spec:\n  eventSeverity: info\n  eventSources:\n"
        "  - kind: GitRepository\n    name: '*'\n  - kind: Kustomization\n    name: apps\n"
        "    namespace: prod\n  providerRef:\n    name: slack\n",
    ),
    "alert provider": (
        "create alert-provider podinfo --type slack --channel general --address "
        "https://hooks.slack.com/services/x --secret-ref webhook-url",
        _meta(BETA3, "Provider") + "spec:\n  address: https://hooks.slack.com/services/x\n"
        "  channel: general\n  secretRef:\n    name: webhook-url\n  type: slack\n",
    ),
    "git secret with basic auth": (
        "create secret git podinfo-auth --url=https://github.com/stefanprodan/podinfo "
        "--username=my-username --password=my-password --namespace=my-namespace",
        _meta("v1", "Secret", name="podinfo-auth", namespace="my-namespace")
        + "stringData:\n  password: my-password\n  username: my-username\n",
    ),
    "git secret with a bearer token": (
        "create secret git bearer-token-auth --bearer-token=ghp_x --namespace=my-namespace",
        _meta("v1", "Secret", name="bearer-token-auth", namespace="my-namespace")
        + "stringData:\n  bearerToken: ghp_x\n",
    ),
    "helm secret with basic auth": (
        "create secret helm helm-secret --username=my-username --password=my-password "
        "--namespace=my-namespace",
        _meta("v1", "Secret", name="helm-secret", namespace="my-namespace")
        + "stringData:\n  password: my-password\n  username: my-username\n"
        "type: kubernetes.io/basic-auth\n",
    ),
    "oci secret": (
        "create secret oci ghcr --namespace=my-namespace --url ghcr.io --username stefanprodan "
        "--password=password",
        _meta("v1", "Secret", name="ghcr", namespace="my-namespace")
        + 'stringData:\n  .dockerconfigjson: |-\n    {\n      "auths": {\n'
        '        "ghcr.io": {\n          "username": "stefanprodan",\n'
        '          "password": "password",\n          "auth": "c3RlZmFucHJvZGFuOnBhc3N3b3Jk"\n'
        "        }\n      }\n    }\ntype: kubernetes.io/dockerconfigjson\n",
    ),
    "alert provider with labels": (
        "create alert-provider hook --type generic --label team=web --label env=prod",
        f"---\napiVersion: {BETA3}\nkind: Provider\nmetadata:\n  labels:\n    env: prod\n"
        "    team: web\n  name: hook\n  namespace: flux-system\nspec:\n  type: generic\n",
    ),
    "receiver": (
        "create receiver podinfo --type github --event ping --event push --secret-ref token "
        "--resource GitRepository/webapp --resource HelmRepository/charts",
        _meta("notification.toolkit.fluxcd.io/v1", "Receiver")
        + "spec:\n  events:\n  - ping\n  - push\n  resources:\n  - kind: GitRepository\n"
        "    name: webapp\n  - kind: HelmRepository\n    name: charts\n  secretRef:\n"
        "    name: token\n  type: github\n",
    ),
}


@pytest.mark.parametrize(("command", "expected"), CASES.values(), ids=list(CASES))
def test_export_prints_what_flux_prints(
    headwater: Callable[..., Result], command: str, expected: str
) -> None:
    result = headwater(*command.split(), "--export")

    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def test_helm_release_merges_values_files_and_names_namespaces(
    headwater: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    (tmp_path / "a.yaml").write_text(
        "replicaCount: 1\nimage:\n  tag: 6.0.0\n  pullPolicy: Always\n"
    )
    (tmp_path / "b.yaml").write_text("image:\n  tag: 6.1.0\n")

    result = headwater(
        "create", "hr", "podinfo", "--chart-ref", "OCIRepository/podinfo.charts",
        "--target-namespace", "apps", "--create-target-namespace", "--depends-on", "infra/base",
        "--values", f"{tmp_path / 'a.yaml'},{tmp_path / 'b.yaml'}",
        "--values-from", "configmap/extra", "--export",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("spec:\n", 1)[1] == (
        "  chartRef:\n    kind: OCIRepository\n    name: podinfo\n    namespace: charts\n"
        "  dependsOn:\n  - name: base\n    namespace: infra\n  install:\n"
        "    createNamespace: true\n  interval: 1m0s\n  storageNamespace: apps\n"
        "  targetNamespace: apps\n  values:\n    image:\n      pullPolicy: Always\n"
        "      tag: 6.1.0\n    replicaCount: 1\n  valuesFrom:\n  - kind: ConfigMap\n"
        "    name: extra\n"
    )


def test_tls_secret_carries_the_pair_and_the_ca(
    headwater: Callable[..., Result], tmp_path: pathlib.Path
) -> None:
    for name in ("ca", "cert", "key"):
        (tmp_path / f"{name}.pem").write_text(f"-----BEGIN {name}-----\n-----END {name}-----\n")

    result = headwater(
        "create", "secret", "tls", "certs", "--namespace=my-namespace",
        f"--tls-crt-file={tmp_path / 'cert.pem'}", f"--tls-key-file={tmp_path / 'key.pem'}",
        f"--ca-crt-file={tmp_path / 'ca.pem'}", "--export",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == _meta("v1", "Secret", name="certs", namespace="my-namespace") + (
        "stringData:\n  ca.crt: |\n    -----BEGIN ca-----\n    -----END ca-----\n"
        "  tls.crt: |\n    -----BEGIN cert-----\n    -----END cert-----\n"
        "  tls.key: |\n    -----BEGIN key-----\n    -----END key-----\ntype: kubernetes.io/tls\n"
    )


REFUSALS = {
    "a label without a value": (
        "create alert-provider p --type slack --label team",
        "invalid label 'team', must be in format KEY=VALUE",
    ),
    "git secret with basic auth and a bearer token": (
        "create secret git a --username=aaa --password=zzzz --bearer-token=aaaa",
        "user credentials and bearer token cannot be used together",
    ),
    "oci without a reference": (
        "create source oci podinfo --url oci://example.com/x",
        "--tag, --tag-semver or --digest is required",
    ),
    "helm repository over ftp": (
        "create source helm podinfo --url ftp://example.com/charts",
        "url scheme 'ftp' not supported, can be: http, https and oci",
    ),
    "helm release with both chart kinds": (
        "create helmrelease podinfo --source HelmRepository/p --chart p --chart-ref HelmChart/p",
        "give one of --chart (with --source) or --chart-ref",
    ),
    "helm release from an unsupported reference": (
        "create helmrelease podinfo --chart-ref GitRepository/p",
        "chart reference kind 'GitRepository' is not supported, must be one of: "
        "OCIRepository, HelmChart",
    ),
    "image policy with two orders": (
        "create image policy p --image-ref p --select-semver 1.x --select-alpha asc",
        "only one of --select-semver, --select-alpha or --select-numeric can be specified",
    ),
    "image policy with an unknown order": (
        "create image policy p --image-ref p --select-alpha up",
        '--select-alpha must be one of ["asc", "desc"]',
    ),
    "image policy interval without Always": (
        "create image policy p --image-ref p --select-semver 1.x --interval 5m",
        "the --interval flag can only be used with the 'Always' digest reflection policy",
    ),
    "image update signing type without a key": (
        "create image update u --git-repo-ref r --checkout-branch main --author-name a "
        "--author-email a@example.com --signing-key-type ssh",
        "--signing-key-type requires --signing-key-secret",
    ),
    "alert without a kind in its source": (
        "create alert a --provider-ref p --event-source podinfo",
        "invalid event source 'podinfo', must be in format <kind>/<name>",
    ),
    "receiver without resources": (
        "create receiver r --type github --secret-ref token",
        "at least one resource is required (--resource)",
    ),
}


@pytest.mark.parametrize(("command", "message"), REFUSALS.values(), ids=list(REFUSALS))
def test_export_refuses_what_flux_refuses(
    headwater: Callable[..., Result], command: str, message: str
) -> None:
    result = headwater(*command.split(), "--export")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"✗ {message}")
