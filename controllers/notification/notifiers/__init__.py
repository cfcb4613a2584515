"""What each Provider type sends: HTTP requests built from a notification (pure, no I/O).

``requests(provider_type, event, target)`` returns the requests one
notification makes, in order, with Flux's payloads and headers; an empty
list means there is nothing to send. The types, by module:

- ``chats``: generic (the event JSON, the ``gotk-component`` header and the
  Secret's headers), generic-hmac (plus ``X-Signature: sha256=<hex>``, the
  HMAC-SHA256 of the body keyed by the token), slack and rocket (a Slack
  attachment; slack sends ``Authorization: Bearer <token>`` when set),
  discord (the Slack payload to the webhook's ``/slack`` endpoint), msteams
  (an adaptive card; the MessageCard for ``*.webhook.office.com``),
  googlechat (a card), webex (markdown to a room, bearer token), matrix
  (an ``m.text`` message PUT under the event's sha1 as transaction id), lark
  (an interactive card), telegram (a MarkdownV2 message to the Bot API);
- ``incidents``: alertmanager (one firing alert labelled with the metadata
  and the object), grafana (an annotation tagged with the metadata),
  opsgenie (an alert with a stable alias, ``GenieKey`` auth), pagerduty
  (trigger or resolve, plus a change event for info), datadog (an event),
  sentry (an error event, or a transaction for info, in an envelope to the
  DSN's project);
- ``buses``: nats (the event JSON published on the ``channel`` subject, a
  ``Publish`` rather than an HTTP request);
- ``gitstatuses``: commit statuses for github, gitlab, gitea,
  bitbucketserver, bitbucket and azuredevops from the ``revision`` metadata,
  and githubdispatch (a ``repository_dispatch``);
- ``changerequests``: githubpullrequestcomment, gitlabmergerequestcomment and
  giteapullrequestcomment: one comment per object on the ``change_request``
  metadata's pull or merge request, edited in place (a ``Conversation``:
  requests that depend on earlier answers).

A notification that cannot be built (a bad address, a missing token or
revision, a type Headwater does not send yet) raises ``NotifierError``.
"""

from __future__ import annotations

from controllers.notification.notifiers import (
    base,
    buses,
    changerequests,
    chats,
    gitstatuses,
    incidents,
)
from shared.api import notification

NotifierError = base.NotifierError
Target = base.Target
Request = base.Request
Publish = base.Publish
Message = base.Message
Response = base.Response
Conversation = base.Conversation
CHANGE_REQUEST_KEY = changerequests.CHANGE_REQUEST_KEY
commit_sha = gitstatuses.commit_sha
event_json = base.event_json

_NOTIFIERS: dict[str, base.Notifier] = {
    **chats.NOTIFIERS,
    **incidents.NOTIFIERS,
    **gitstatuses.NOTIFIERS,
    **buses.NOTIFIERS,
    **changerequests.NOTIFIERS,
}
SUPPORTED = tuple(_NOTIFIERS)
"""The Provider types this notification-controller delivers to."""


def requests(provider_type: str, event: notification.Event, target: Target) -> list[Message]:
    """The requests (or messages) ``event`` makes through a Provider of ``provider_type``."""
    notifier = _NOTIFIERS.get(provider_type)
    if notifier is None:
        raise NotifierError(f"provider type {provider_type!r} is not supported by Headwater yet")
    return list(notifier(event, target))
