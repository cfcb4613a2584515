"""The REST surface: from HTTP request to a registry call and back.

``requests`` (paths, query options, body decoding), ``handlers`` (one function
per verb), ``watch_stream`` (watch responses), ``tables`` (Table output),
``discovery`` (aggregated and legacy discovery), ``openapi`` (v3) and
``openapiv2`` with ``gnostic`` (its protobuf form).

No state of its own: each handler is given the ``registry.cluster.Cluster``
and calls it. Routing, middleware and the process belong to ``server``.
"""
