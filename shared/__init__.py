"""Library code every Headwater process uses; it imports no controller and no tool.

Layers, lowest first: ``api`` (pure models), ``kube`` (the only code that calls
the Kubernetes API), then ``runtime`` (controller machinery), ``artifacts``
(archive, storage, serving and fetching of source artifacts), ``oci`` (the
OCI registry client) and ``gitssh`` (the hardened ``ssh`` command Git over
SSH runs) side by side, none importing another; ``artifacts`` and ``oci``
use only ``api``, ``gitssh`` nothing. A package imports
only from the layers below it: import-linter's layers contract in
pyproject.toml enforces the direction (``make lint``).
"""
