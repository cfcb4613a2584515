"""The vocabulary every layer shares, as Kubernetes' apimachinery is.

``objects`` (timestamps, names, metadata checks), ``errors`` (``ApiError`` and
the ``Status`` bodies clients branch on), ``selectors`` (label and field
selectors), ``jsonpaths`` (the JSONPath of printer columns) and ``logs`` (the
one log format of the server and its controller-manager child).

The bottom layer: it imports no other ``devcluster`` package. Nothing here
knows a resource, a schema, the store or HTTP.
"""
