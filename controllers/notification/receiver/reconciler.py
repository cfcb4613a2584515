"""The Receiver reconciler: validate the spec, read the token, publish the webhook path.

Steps (none owns a condition of its own; Ready, Reconciling and Stalled come
from the skeleton's summary, as Flux sets them):

1. ``validate``: the type/secretRef/oidcProviders invariants, and every CEL
   filter compiles. A broken spec stalls: Ready=False and Stalled=True with
   ``ValidationFailed`` (or ``InvalidCELExpression``) and the message
   "Reconciliation failed terminally due to configuration error: …".
2. ``token``: a generic-oidc Receiver has no Secret: its path is
   ``/hook/<sha256(name+namespace)>`` (requests prove themselves with an OIDC
   token, ``oidc``). Otherwise read ``secretRef`` and its ``token`` key. A missing Secret or
   key is Ready=False ``TokenNotFound`` (retried with backoff) and clears
   ``status.webhookPath``. Otherwise ``status.webhookPath`` =
   ``/hook/<sha256(token+name+namespace)>`` and Ready=True ``Succeeded``
   "Receiver initialized for path: <path>"; the Secret's entries go to the
   ``SecretCache`` the webhook server verifies requests with.
"""

from __future__ import annotations

import dataclasses
from typing import NoReturn

from controllers.notification.receiver import filtering, tokens
from shared.api import meta, notification
from shared.kube import client, errors, references
from shared.runtime import conditions, logging, reconciling, results

SUMMARY = conditions.Summary(owned=(), negative=frozenset())
TERMINAL_PREFIX = "Reconciliation failed terminally due to configuration error"
READY_MESSAGE = "Receiver initialized for path: {path}"


@dataclasses.dataclass(eq=False, kw_only=True)
class _Run(reconciling.Run[notification.Receiver, notification.ReceiverStatus]):
    pass


def _key(obj: notification.Receiver) -> str:
    return f"{obj.metadata.namespace}/{obj.metadata.name}"


def _stall(reason: str, error: str) -> results.StallingError:
    return results.StallingError(f"{TERMINAL_PREFIX}: {error}", reason=reason)


def spec_problem(spec: notification.ReceiverSpec) -> str | None:
    """The first broken type/secretRef/oidcProviders invariant, worded as Flux words it."""
    oidc = spec.type == "generic-oidc"
    if oidc and not spec.oidc_providers:
        return "generic-oidc receiver requires at least one oidcProvider"
    if not oidc and spec.oidc_providers:
        return "oidcProviders can only be set when type is generic-oidc"
    if oidc and spec.secret_ref is not None:
        return "secretRef cannot be set when type is generic-oidc"
    if not oidc and spec.secret_ref is None:
        return "secretRef is required when type is not generic-oidc"
    return None


class ReceiverReconciler:
    """Reconciles Receivers (see the module docstring)."""

    kind = notification.Receiver
    status_type = notification.ReceiverStatus
    run_type = _Run
    summary = SUMMARY

    def __init__(self, *, api: client.Client, secret_cache: tokens.SecretCache) -> None:
        self._api = api
        self._secrets = secret_cache
        self.steps = (
            reconciling.Step("validate", self._validate),
            reconciling.Step("token", self._token),
        )

    async def _validate(self, run: _Run) -> None:
        spec = run.obj.spec
        problem = spec_problem(spec)
        if problem is not None:
            raise _stall(notification.VALIDATION_FAILED_REASON, problem)
        expressions = [("resourceFilter", spec.resource_filter)] + [
            (f'resources[{i}] (kind="{r.kind}", name="{r.name}")', r.filter)
            for i, r in enumerate(spec.resources)
        ]
        for where, source in expressions:
            if not source:
                continue
            try:
                filtering.check(source)
            except filtering.InvalidFilterError as error:
                what = (
                    "invalid resourceFilter expression"
                    if where == "resourceFilter"
                    else f"invalid filter expression for {where}"
                )
                raise _stall(meta.INVALID_CEL_EXPRESSION_REASON, f"{what}: {error}") from error

    async def _token(self, run: _Run) -> None:
        obj = run.obj
        namespace = obj.metadata.namespace or ""
        ref = obj.spec.secret_ref
        data: dict[str, bytes] = {}
        if ref is not None:  # the validate step leaves it out only for generic-oidc
            secret_name = f"{namespace}/{ref.name}"
            try:
                data = await references.secret_data(self._api, namespace, ref.name)
            except errors.KubeError as error:
                self._fail_token(run, f"unable to read token from secret '{secret_name}' "
                                 f"error: {error.message}")  # fmt: skip
            if "token" not in data:
                self._fail_token(
                    run, f"invalid '{secret_name}' secret data: required fields 'token'"
                )
        path = tokens.webhook_path(
            data.get("token", b"").decode(errors="replace"),
            name=obj.metadata.name or "",
            namespace=namespace,
        )
        self._secrets.remember(_key(obj), data)
        message = READY_MESSAGE.format(path=path)
        run.ready_message = message
        if run.status.webhook_path != path:
            run.status.webhook_path = path
            logging.get_logger().info(message)

    def _fail_token(self, run: _Run, message: str) -> NoReturn:
        self._secrets.forget(_key(run.obj))
        run.status.webhook_path = None
        raise results.ReconcileError(message, reason=notification.TOKEN_NOT_FOUND_REASON)

    async def finalize(self, obj: notification.Receiver) -> None:
        self._secrets.forget(_key(obj))

    def interval(self, obj: notification.Receiver) -> float:
        return meta.parse_duration(obj.spec.interval).total_seconds()
