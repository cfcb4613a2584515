"""Protobuf request bodies the real kubectl 1.37 sent, saved as test fixtures.

``<name>.pb`` is the exact HTTP body of a ``kubectl create …`` request;
``<name>.json`` (when present) is what the same command printed with
``--dry-run=client -o json``: the object kubectl meant to send, in JSON.
``capture.py`` regenerates both against a devcluster; ``COMMANDS`` lists them.
"""
