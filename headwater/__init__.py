"""User-facing tools: the ``headwater`` command, the local cluster, ``headwater dev``.

Nothing in ``shared`` or ``controllers`` may import this package.
"""
