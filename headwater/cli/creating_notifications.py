"""``create alert``, ``create alert-provider`` and ``create receiver``, with Flux's flags.

Alert and Provider are static (``notification.toolkit.fluxcd.io/v1beta3``
has no status): ``create`` applies them and is done. A Receiver is waited
for like any reconciled object, and its webhook path printed (``generated
webhook URL /hook/…``). ``--event-source`` and ``--resource`` take
``<kind>/<name>`` (``--event-source`` also ``.<namespace>``), repeated or
comma-separated.
"""

from __future__ import annotations

import argparse
import typing
from typing import Any

from headwater.cli import creatingkit, session
from shared.api import notification

BETA_API = "notification.toolkit.fluxcd.io/v1beta3"
V1_API = "notification.toolkit.fluxcd.io/v1"
PROVIDER_TYPES = typing.get_args(notification.ProviderSpec.model_fields["type"].annotation)
RECEIVER_TYPES = typing.get_args(notification.ReceiverSpec.model_fields["type"].annotation)


def _each(flags: list[str]) -> list[str]:
    return [item for flag in flags for item in flag.split(",") if item]


def alert(args: argparse.Namespace) -> dict[str, Any]:
    """The Alert ``flux create alert`` makes."""
    sources = []
    for text in _each(args.event_source):
        kind, name, namespace = creatingkit.reference(text)
        if not kind:
            raise session.CliError(
                f"invalid event source '{text}', must be in format <kind>/<name>"
            )
        sources.append(creatingkit.cross_ref(kind, name, namespace))
    if not sources:
        raise session.CliError("at least one event source is required (--event-source)")
    spec: dict[str, Any] = {
        "eventSources": sources,
        "providerRef": creatingkit.local_ref(args.provider_ref),
    }
    if args.event_severity:
        spec["eventSeverity"] = args.event_severity
    return creatingkit.flux_object(BETA_API, "Alert", args, spec)


def provider(args: argparse.Namespace) -> dict[str, Any]:
    """The Provider ``flux create alert-provider`` makes."""
    spec: dict[str, Any] = {"type": args.type}
    fields = {flag: flag for flag in ("address", "channel", "username")}
    creatingkit.given(spec, args, fields, refs={"secret_ref": "secretRef"})
    return creatingkit.flux_object(BETA_API, "Provider", args, spec)


def receiver(args: argparse.Namespace) -> dict[str, Any]:
    """The Receiver ``flux create receiver`` makes."""
    resources = []
    for text in _each(args.resource):
        kind, _, name = text.partition("/")
        if not (kind and name):
            raise session.CliError(f"invalid resource '{text}', must be in format <kind>/<name>")
        resources.append({"kind": kind, "name": name})
    if not resources:
        raise session.CliError("at least one resource is required (--resource)")
    spec: dict[str, Any] = {
        "resources": resources,
        "secretRef": creatingkit.local_ref(args.secret_ref),
        "type": args.type,
    }
    events = _each(args.event)
    if events:
        spec["events"] = events
    return creatingkit.flux_object(V1_API, "Receiver", args, spec)


def register(
    what: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    alerts = what.add_parser("alert", parents=[common], help="an Alert")
    creatingkit.common_flags(alerts, alert)
    alerts.add_argument("--provider-ref", required=True, help="the Provider to send to")
    alerts.add_argument("--event-severity", choices=("info", "error"), help="the lowest severity")
    alerts.add_argument(
        "--event-source",
        action="append",
        default=[],
        help="<kind>/<name>[.<namespace>] whose events to send (repeatable)",
    )

    providers = what.add_parser("alert-provider", parents=[common], help="a Provider")
    creatingkit.common_flags(providers, provider)
    providers.add_argument("--type", required=True, choices=PROVIDER_TYPES, metavar="TYPE")
    providers.add_argument("--channel", help="the chat channel")
    providers.add_argument("--username", help="the bot's user name")
    providers.add_argument("--address", help="the webhook, chat or Git address")
    providers.add_argument("--secret-ref", help="the Secret with the token or address")

    receivers = what.add_parser("receiver", parents=[common], help="a Receiver")
    creatingkit.common_flags(receivers, receiver)
    receivers.add_argument("--type", required=True, choices=RECEIVER_TYPES, metavar="TYPE")
    receivers.add_argument("--secret-ref", required=True, help="the Secret with the token")
    receivers.add_argument(
        "--event", action="append", default=[], help="an event type to accept (repeatable)"
    )
    receivers.add_argument(
        "--resource",
        action="append",
        default=[],
        help="<kind>/<name> to reconcile on a webhook call (repeatable)",
    )
