"""Service-account credentials: the bearer tokens that authenticate, and token Secrets.

Contract, after kube-apiserver's service-account authenticator and
kube-controller-manager's tokens controller:

- ``authenticate`` accepts a token the server's ``tokens.Issuer`` signed:
  a TokenRequest token (``kubernetes.io`` claims) until it expires and while
  its ServiceAccount exists with the same uid; a legacy Secret token
  (``kubernetes/serviceaccount`` issuer) while its Secret still holds it and
  its ServiceAccount exists. Either authenticates as
  ``system:serviceaccount:<ns>:<name>`` in ``system:serviceaccounts``,
  ``system:serviceaccounts:<ns>`` and ``system:authenticated``. Anything else
  is ``None`` (the caller answers 401).
- ``fill_token_secrets`` gives every Secret of type
  ``kubernetes.io/service-account-token`` that names an existing
  ServiceAccount (annotation ``kubernetes.io/service-account.name``) and has
  no ``data.token`` yet its ``token``, ``namespace`` and ``ca.crt`` data and
  the ``kubernetes.io/service-account.uid`` annotation, as the tokens
  controller does; ``kubectl`` and controllers read such Secrets.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from devcluster.auth import identities, tokens
from devcluster.registry import cluster as cluster_mod

Obj = dict[str, Any]
TOKEN_SECRET = "kubernetes.io/service-account-token"
NAME_ANNOTATION = "kubernetes.io/service-account.name"
UID_ANNOTATION = "kubernetes.io/service-account.uid"
LEGACY_ISSUER = "kubernetes/serviceaccount"
_LEGACY = "kubernetes.io/serviceaccount/"
_ACCOUNTS = "/serviceaccounts"
_SECRETS = "/secrets"
MANAGER = "tokens-controller"


def _account(state: cluster_mod.Cluster, namespace: str, name: str) -> Obj | None:
    return state.store.get((_ACCOUNTS, namespace, name))


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def authenticate(
    state: cluster_mod.Cluster, issuer: tokens.Issuer, token: str, *, now: float | None = None
) -> identities.UserInfo | None:
    """The service account ``token`` authenticates, ``None`` if it authenticates none."""
    claims = issuer.verify(token)
    if claims is None:
        return None
    if claims.get("iss") == LEGACY_ISSUER:
        namespace = str(claims.get(_LEGACY + "namespace", ""))
        name = str(claims.get(_LEGACY + "service-account.name", ""))
        secret = state.store.get((_SECRETS, namespace, str(claims.get(_LEGACY + "secret.name"))))
        held = ((secret or {}).get("data") or {}).get("token")
        if held != _b64(token):
            return None
        account = _account(state, namespace, name)
        if account is None:
            return None
        return identities.service_account_user(namespace, name, account["metadata"].get("uid", ""))
    private = claims.get("kubernetes.io")
    if not isinstance(private, dict):
        return None
    if float(claims.get("exp", 0)) <= (time.time() if now is None else now):
        return None
    namespace = str(private.get("namespace", ""))
    wanted = private.get("serviceaccount") or {}
    account = _account(state, namespace, str(wanted.get("name", "")))
    if account is None or account["metadata"].get("uid") != wanted.get("uid"):
        return None
    return identities.service_account_user(
        namespace, str(wanted["name"]), str(wanted.get("uid", ""))
    )


def legacy_token(issuer: tokens.Issuer, *, namespace: str, secret: str, account: Obj) -> str:
    """A non-expiring Secret token for ``account``, as the tokens controller mints one."""
    name = account["metadata"]["name"]
    return issuer.sign(
        {
            "iss": LEGACY_ISSUER,
            _LEGACY + "namespace": namespace,
            _LEGACY + "secret.name": secret,
            _LEGACY + "service-account.name": name,
            _LEGACY + "service-account.uid": account["metadata"].get("uid", ""),
            "sub": f"{identities.SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        }
    )


def fill_token_secrets(
    state: cluster_mod.Cluster, issuer: tokens.Issuer, *, namespace: str, ca: bytes
) -> None:
    """Fill the service-account token Secrets of ``namespace`` that have no token yet."""
    res = state.registry.lookup("", "v1", "secrets")
    if res is None:
        return
    for secret in state.store.list(_SECRETS, namespace):
        metadata = secret["metadata"]
        annotations = metadata.get("annotations") or {}
        if secret.get("type") != TOKEN_SECRET or (secret.get("data") or {}).get("token"):
            continue
        account = _account(state, namespace, str(annotations.get(NAME_ANNOTATION, "")))
        if account is None:
            continue
        token = legacy_token(issuer, namespace=namespace, secret=metadata["name"], account=account)
        updated = {
            **secret,
            "metadata": {
                **metadata,
                "annotations": {
                    **annotations,
                    UID_ANNOTATION: account["metadata"].get("uid", ""),
                },
            },
            "data": {
                **(secret.get("data") or {}),
                "token": _b64(token),
                "namespace": _b64(namespace),
                "ca.crt": _b64(ca),
            },
        }
        state.replace(
            res, namespace, metadata["name"], updated, cluster_mod.WriteOptions(manager=MANAGER)
        )
