"""Library code every Headwater process uses; it imports no controller and no tool.

Layers, lowest first: ``api`` (pure models), ``kube`` (the only code that calls
the Kubernetes API), ``runtime`` (controller machinery), ``artifacts`` (archive,
storage, serving and fetching of source artifacts).
"""
