"""Receiver (notification.toolkit.fluxcd.io/v1): webhooks that ask Flux objects to reconcile.

``wiring`` (the ``--receiverAddr`` flag and ``setup``) above ``server`` (the
HTTP endpoint) above ``reconciler`` (status.webhookPath and conditions) and
``requesting`` (the ``requestedAt`` annotations, the only Kubernetes writes
of a webhook), above the domain modules that take and return plain values:
``verifying`` (per-type authentication), ``signatures`` (HMAC),
``filtering`` (CEL filters) and ``tokens`` (the webhook path, the Secrets
read by the last reconcile). Nothing here imports the rest of
notification-controller.
"""
