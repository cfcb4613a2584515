"""The non-apply patch types: JSON merge, JSON patch, strategic merge.

``patches`` takes the current object and a decoded patch and returns the new
value; strategic merge reads list keys and patch strategies from
``structuredmerge.typeinfo``. Server-side apply is not here (``fieldmanager``),
nor deciding which patch a request asked for (``endpoints``).
"""
