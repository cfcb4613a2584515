"""The registry: the cluster state and every write's rules.

``cluster`` (``Cluster``: the store, the served resources, the change events
and the write pipeline of create, update, patch, apply and delete),
``strategies`` (the stateless rules: body and metadata checks, server-owned
fields), ``services`` (cluster IPs and node ports), ``scaling`` (the
``/scale`` subresource) and ``defaults`` (the built-in kinds' defaults).

No HTTP: requests are decoded and replies encoded by ``endpoints``; this
layer takes and returns objects and raises ``machinery.errors.ApiError``.
"""
