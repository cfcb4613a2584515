"""A Provider resolved for one notification: its Secrets read into a delivery job.

``resolve`` reads what the Provider refers to, in its namespace, as Flux does:

- ``secretRef``: ``address`` (overrides ``spec.address``; at most 2048
  bytes), ``token``, ``username``/``password``, ``headers`` (a YAML map of
  HTTP headers), ``proxy`` (deprecated); for commit-status types also TLS
  material when no ``certSecretRef`` is set;
- ``proxySecretRef``: ``address`` with optional ``username``/``password``;
  ``spec.proxy`` (deprecated) when no Secret is named;
- ``certSecretRef``: ``ca.crt`` to trust, and/or ``tls.crt`` with ``tls.key``
  for a client certificate;
- ``timeout`` (15 s when unset) bounds the whole delivery with its retries;
- ``commitStatusExpr`` (commit-status types): a CEL expression over
  ``event`` (the notification as JSON), ``provider`` and ``alert`` (the
  objects) yielding the status key, instead of
  ``<kind>/<name>/<first part of the provider UID>``.

A missing Secret or an unusable value raises ``ProviderError`` with Flux's
wording, which the intake reports on the Alert.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import urllib.parse
from typing import Any

import celpy
import celpy.adapter
import celpy.celparser
import celpy.evaluation
import yaml

from controllers.notification import delivery, notifiers
from shared.api import meta, notification, validation
from shared.kube import client, errors, references

MAX_ADDRESS_LENGTH = 2048


class ProviderError(Exception):
    """A Provider cannot be used: a Secret is missing or holds something unusable."""


def commit_status_id(provider: dict[str, Any], event: notification.Event) -> str:
    """Flux's default commit-status key: ``<kind>/<name>/<first part of the provider UID>``."""
    uid = str(provider.get("metadata", {}).get("uid", ""))
    obj = event.involved_object
    return f"{obj.kind}/{obj.name}/{uid.split('-')[0]}".lower()


def commit_status(
    provider: dict[str, Any],
    spec: notification.ProviderSpec,
    event: notification.Event,
    *,
    alert: dict[str, Any],
) -> str:
    """The commit-status key of ``event`` through ``provider`` ("" for other types)."""
    if spec.type not in notification.COMMIT_STATUS_PROVIDER_TYPES:
        return ""
    if not spec.commit_status_expr:
        return commit_status_id(provider, event)
    failure = "failed to evaluate the spec.commitStatusExpr CEL expression for the event"
    activation = {
        "event": celpy.adapter.json_to_cel(notifiers.event_json(event)),
        "provider": celpy.adapter.json_to_cel(provider),
        "alert": celpy.adapter.json_to_cel(alert),
    }
    try:
        result = validation.program(spec.commit_status_expr).evaluate(activation)
    except (celpy.celparser.CELParseError, celpy.evaluation.CELEvalError) as error:
        raise ProviderError(f"{failure}: {str(error).strip()}") from error
    # NB: cel-python may return an error value instead of raising.
    if not isinstance(result, str):
        raise ProviderError(f"{failure}: the result {result!r} is not a string")
    return str(result)


async def _secret(api: client.Client, namespace: str, name: str) -> dict[str, bytes]:
    try:
        return await references.secret_data(api, namespace, name)
    except errors.KubeError as error:
        raise ProviderError(f"failed to get secret '{namespace}/{name}': {error}") from error


def _text(data: dict[str, bytes], key: str) -> str:
    return data.get(key, b"").decode("utf-8", errors="replace").strip()


def _ssl_context(data: dict[str, bytes], *, where: str) -> ssl.SSLContext | None:
    ca, cert, key = data.get("ca.crt"), data.get("tls.crt"), data.get("tls.key")
    if not (ca or cert or key):
        return None
    if bool(cert) != bool(key):
        raise ProviderError(f"failed to get TLS config: {where} needs both tls.crt and tls.key")
    try:
        context = ssl.create_default_context(cadata=ca.decode() if ca else None)
        if cert and key:
            # NB: the ssl module loads a client certificate only from files;
            # they live for the call and are removed on every path.
            with tempfile.TemporaryDirectory() as directory:
                paths = []
                for name, content in (("tls.crt", cert), ("tls.key", key)):
                    path = os.path.join(directory, name)
                    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
                        out.write(content)
                    paths.append(path)
                context.load_cert_chain(paths[0], paths[1])
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as error:
        raise ProviderError(f"failed to get TLS config from {where}: {error}") from error
    return context


def _proxy_url(data: dict[str, bytes], *, where: str) -> str:
    address = _text(data, "address")
    if not address:
        raise ProviderError(f"failed to get proxy URL: {where} has no 'address'")
    parts = urllib.parse.urlsplit(address)
    username, password = _text(data, "username"), _text(data, "password")
    if username:
        credentials = urllib.parse.quote(username, safe="")
        if password:
            credentials += ":" + urllib.parse.quote(password, safe="")
        parts = parts._replace(netloc=f"{credentials}@{parts.netloc}")
    return urllib.parse.urlunsplit(parts)


async def resolve(
    api: client.Client,
    provider: dict[str, Any],
    spec: notification.ProviderSpec,
    event: notification.Event,
    *,
    alert: dict[str, Any],
    context: dict[str, str],
) -> delivery.Job:
    """The delivery job sending ``event`` through ``provider`` (see the module docstring)."""
    namespace = provider["metadata"]["namespace"]
    address, token, username, password = spec.address or "", "", spec.username or "", ""
    headers: dict[str, str] = {}
    proxy = spec.proxy
    tls: ssl.SSLContext | None = None
    secret: dict[str, bytes] | None = None
    where = ""
    if spec.secret_ref is not None:
        where = f"secret '{namespace}/{spec.secret_ref.name}'"
        secret = await _secret(api, namespace, spec.secret_ref.name)
        if len(secret.get("address", b"")) > MAX_ADDRESS_LENGTH:
            raise ProviderError(
                f"invalid address in secret: address exceeds maximum length of "
                f"{MAX_ADDRESS_LENGTH} bytes"
            )
        address = _text(secret, "address") or address
        token = _text(secret, "token")
        username = _text(secret, "username") or username
        password = _text(secret, "password")
        if "proxy" in secret:
            proxy = _text(secret, "proxy")
        if "headers" in secret:
            try:
                loaded = yaml.safe_load(secret["headers"])
            except yaml.YAMLError as error:
                raise ProviderError(f"failed to read headers from secret: {error}") from error
            if not isinstance(loaded, dict):
                raise ProviderError(f"failed to read headers from {where}: want a map")
            headers = {str(k): str(v) for k, v in loaded.items()}
    if spec.proxy_secret_ref is not None:
        name = spec.proxy_secret_ref.name
        data = await _secret(api, namespace, name)
        proxy = _proxy_url(data, where=f"secret '{namespace}/{name}'")
    if spec.cert_secret_ref is not None:
        name = spec.cert_secret_ref.name
        data = await _secret(api, namespace, name)
        tls = _ssl_context(data, where=f"secret '{namespace}/{name}'")
    elif secret is not None and spec.type in notification.COMMIT_STATUS_PROVIDER_TYPES:
        tls = _ssl_context(secret, where=where)
    status_key = commit_status(provider, spec, event, alert=alert)
    target = notifiers.Target(
        address=address,
        token=token,
        username=username,
        password=password,
        channel=spec.channel or "",
        headers=headers,
        provider_uid=str(provider.get("metadata", {}).get("uid", "")),
        commit_status=status_key,
        secret_data=secret or {},
    )
    try:
        built = notifiers.requests(spec.type, event, target)
    except notifiers.NotifierError as error:
        raise ProviderError(f"failed to initialize notifier: {error}") from error
    return delivery.Job(
        requests=built,
        timeout=(
            meta.parse_duration(spec.timeout).total_seconds()
            if spec.timeout
            else delivery.DEFAULT_TIMEOUT
        ),
        proxy=proxy or None,
        ssl_context=tls,
        context=context,
    )
