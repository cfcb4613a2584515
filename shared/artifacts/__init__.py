"""Source artifacts: deterministic archives, digests, storage with garbage
collection, the HTTP server that serves them, and the client side that
downloads, verifies and safely extracts them.

Modules:

- ``ignoring``: Flux's ignore rules (default exclusions, ``.sourceignore``
  files, ``spec.ignore``) as a path filter;
- ``archiving``: deterministic tar.gz of a directory through such a filter;
- ``digests``: ``<algorithm>:<hex>`` digests, computed while streaming;
- ``storage``: the ``<kind>/<namespace>/<name>/<file>`` layout, atomic writes,
  per-object locks, retention (GC) and removal;
- ``staging``: an artifact written while it is produced (a temporary in its
  object's directory that ``storage`` commits with one rename);
- ``serving``: the read-only artifact HTTP server;
- ``extracting``: safe extraction of untrusted tar.gz files;
- ``fetching``: download with retries, digest check and extraction;
- ``errors``: the one exception tree all of the above raise.

What must not live here: Kubernetes access (``shared.kube``), reconcile
logic or conditions (``shared.runtime``, controllers), and anything specific
to one source kind (Git, OCI, Helm code stays in ``controllers.source``).
Blocking work is exposed either as plain functions documented as such or
as coroutines that run it in a thread.
"""
