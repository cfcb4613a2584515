"""notification-controller: event intake, Alerts, Providers and webhook Receivers.

From the entry point down (import-linter holds the order):

- ``__main__``: flags, the manager, the intake's HTTP server; the place where
  the webhook Receiver (``receiver``) is wired into the same process;
- ``intake``: ``POST /`` with Flux's event JSON, duplicates refused, Alerts
  matched, failures reported on the Alert;
- ``providers``: a Provider's Secrets (token, headers, proxy, TLS) read into a
  delivery job;
- ``delivery``: one queue and its workers per Provider, retries with backoff;
- ``publishing``: NATS messages (the nats type), one connection each;
- ``notifiers``: the HTTP requests each Provider type sends (pure);
- ``matching``: metadata clean-up, duplicate keys, Alert matching (pure).

Only ``intake`` and ``providers`` call the Kubernetes API; ``notifiers`` and
``matching`` do no I/O at all (a notifier returns the HTTP requests or NATS
messages to send; ``delivery`` and ``publishing`` send them).
"""
