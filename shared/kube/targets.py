"""Where a controller applies an object's resources: this cluster or a remote one, as whom.

Flux's rules, shared by every controller that applies (kustomize-controller
now, helm-controller next):

- **impersonation** — ``spec.serviceAccountName`` (else the controller's
  ``--default-service-account``) makes every request act as
  ``system:serviceaccount:<namespace>:<name>``;
- **remote clusters** — ``spec.kubeConfig.secretRef`` names a Secret holding
  a kubeconfig (key ``value`` or ``value.yaml`` unless the reference names
  one). A kubeconfig from a Secret is user input: its exec plugins and
  auth-providers would run commands inside the controller, and
  ``insecure-skip-tls-verify`` would send credentials to any server. Both are
  refused unless the controller runs with ``--insecure-kubeconfig-exec`` or
  ``--insecure-kubeconfig-tls`` (Flux's flags, off by default).
  ``spec.kubeConfig.configMapRef`` (cloud workload identity) is refused as
  unsupported.

``Targets`` caches one ``Target`` per referring object and rebuilds it when
the service account or the kubeconfig changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import pathlib
import shutil
import tempfile
from typing import Any

import yaml

from shared.api import meta
from shared.kube import client, errors, references, resources

DEFAULT_KUBECONFIG_KEYS = ("value", "value.yaml")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Policy:
    """The controller flags that decide what a target may be."""

    default_service_account: str = ""
    """``--default-service-account``: impersonated when an object names none."""
    allow_exec: bool = False
    """``--insecure-kubeconfig-exec``: allow exec plugins and auth-providers."""
    allow_insecure_tls: bool = False
    """``--insecure-kubeconfig-tls``: allow ``insecure-skip-tls-verify``."""


class TargetError(Exception):
    """The target cannot be built; ``stalling`` when only a spec change can fix it."""

    def __init__(self, message: str, *, stalling: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.stalling = stalling


def service_account_user(namespace: str, account: str) -> tuple[str, list[str]]:
    """The user and groups a service account is impersonated as."""
    return (
        f"system:serviceaccount:{namespace}:{account}",
        ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
    )


async def read_kubeconfig(
    api: client.Client, namespace: str, reference: meta.KubeConfigReference
) -> str:
    """The kubeconfig text ``reference`` names (see the module docstring)."""
    if reference.secret_ref is None:
        raise TargetError(
            "spec.kubeConfig.configMapRef (cloud provider authentication) is not supported",
            stalling=True,
        )
    name = reference.secret_ref.name
    try:
        data = await references.secret_data(api, namespace, name)
    except references.ReferenceNotFoundError as missing:
        raise TargetError(f"kubeconfig {missing.message}") from missing
    keys = [reference.secret_ref.key] if reference.secret_ref.key else DEFAULT_KUBECONFIG_KEYS
    for key in keys:
        if key in data:
            return data[key].decode()
    raise TargetError(
        f"kubeconfig secret '{namespace}/{name}' has no key {' or '.join(map(repr, keys))}"
    )


def check_kubeconfig(text: str, policy: Policy, *, origin: str) -> None:
    """Refuse what ``policy`` does not allow in a kubeconfig from ``origin`` (a Secret)."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as invalid:
        raise TargetError(f"invalid kubeconfig in {origin}: {invalid}") from invalid
    if not isinstance(config, dict):
        raise TargetError(f"invalid kubeconfig in {origin}: not a mapping")
    for entry in _entries(config, "users"):
        user = entry.get("user") or {}
        for field in ("exec", "auth-provider"):
            if user.get(field) and not policy.allow_exec:
                raise TargetError(
                    f"kubeconfig in {origin}: user '{entry.get('name', '')}' uses {field}, "
                    "which runs a command in the controller; refused unless the controller "
                    "runs with --insecure-kubeconfig-exec"
                )
    for entry in _entries(config, "clusters"):
        cluster = entry.get("cluster") or {}
        if cluster.get("insecure-skip-tls-verify") and not policy.allow_insecure_tls:
            raise TargetError(
                f"kubeconfig in {origin}: cluster '{entry.get('name', '')}' sets "
                "insecure-skip-tls-verify; refused unless the controller runs with "
                "--insecure-kubeconfig-tls"
            )


def _entries(config: dict[str, Any], section: str) -> list[dict[str, Any]]:
    return [e for e in config.get(section) or [] if isinstance(e, dict)]


async def connect_kubeconfig(text: str, *, user_agent: str) -> client.Client:
    """A client for the cluster of a kubeconfig given as text (a temporary file, removed)."""
    directory = await asyncio.to_thread(tempfile.mkdtemp, prefix="kubeconfig-")
    path = pathlib.Path(directory) / "kubeconfig"
    try:
        await asyncio.to_thread(path.write_text, text)
        return await client.connect(kubeconfig=str(path), user_agent=user_agent)
    except errors.KubeError as invalid:
        raise TargetError(f"invalid kubeconfig: {invalid.message}") from invalid
    finally:
        await asyncio.to_thread(shutil.rmtree, directory, True)


@dataclasses.dataclass(slots=True)
class Target:
    """The cluster one object applies to, and the identity it acts as."""

    identity: tuple[str, str]
    """(service account, kubeconfig digest): a change means a new target."""
    api: client.Client
    """Requests as the impersonated account (or the controller) on the target cluster."""
    discovery: resources.Discovery
    remote: client.Client | None = None
    """The remote cluster's own connection (closed with the target); None for this cluster."""

    async def close(self) -> None:
        if self.remote is not None:
            await self.remote.close()


class Targets:
    """One ``Target`` per referring object (``namespace/name``), rebuilt on change."""

    def __init__(
        self,
        *,
        api: client.Client,
        discovery: resources.Discovery,
        policy: Policy,
        user_agent: str,
    ) -> None:
        self._api = api
        self._discovery = discovery
        self._policy = policy
        self._user_agent = user_agent
        self._targets: dict[str, Target] = {}

    async def get(
        self,
        *,
        namespace: str,
        name: str,
        service_account: str | None,
        kube_config: meta.KubeConfigReference | None,
    ) -> Target:
        """The target of object ``namespace/name``; ``TargetError`` when it cannot be built."""
        account = service_account or self._policy.default_service_account
        kubeconfig = None
        if kube_config is not None:
            kubeconfig = await read_kubeconfig(self._api, namespace, kube_config)
            secret = kube_config.secret_ref.name if kube_config.secret_ref else ""
            check_kubeconfig(kubeconfig, self._policy, origin=f"secret '{namespace}/{secret}'")
        digest = hashlib.sha256(kubeconfig.encode()).hexdigest() if kubeconfig else ""
        identity = (account, digest)
        key = f"{namespace}/{name}"
        target = self._targets.get(key)
        if target is not None and target.identity == identity:
            return target
        if target is not None:
            await target.close()
            del self._targets[key]
        remote = (
            await connect_kubeconfig(kubeconfig, user_agent=self._user_agent)
            if kubeconfig
            else None
        )
        base = remote if remote is not None else self._api
        api = base
        if account:
            user, groups = service_account_user(namespace, account)
            api = base.impersonating(user, groups=groups)
        target = Target(
            identity=identity,
            api=api,
            discovery=resources.Discovery(base) if remote is not None else self._discovery,
            remote=remote,
        )
        self._targets[key] = target
        return target

    async def forget(self, *, namespace: str, name: str) -> None:
        """Close and drop the target of a deleted object."""
        target = self._targets.pop(f"{namespace}/{name}", None)
        if target is not None:
            await target.close()
