"""Server-side apply and managedFields tracking, as kube-apiserver's field manager.

``fieldmanager`` (``apply`` and ``update``: merge, conflicts, ownership),
``lastapplied`` (kubectl's last-applied-configuration during apply),
``reapply`` (the fast path of a manager re-applying an unchanged shape) and
``applycache`` (what the cluster remembers between applies to answer the
next one cheaply).

Pure: the caller (``registry``) reads and writes the store, admits and
validates. Built on ``structuredmerge``; imports nothing that knows HTTP,
storage or a resource registry.
"""
