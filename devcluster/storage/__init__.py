"""Object storage and the watch cache.

``storage`` (one small interface, in memory or SQLite, owning the
resourceVersion counter) and ``watching`` (committed changes as events: a
bounded history plus live subscriptions, 410 Expired past it).

Stores and replays JSON-able objects without reading them: no schema, no
admission, no HTTP. Imports only ``machinery`` at most.
"""
