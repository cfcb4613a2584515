"""Wire formats of request and response bodies: JSON, YAML and protobuf.

``encoding`` (compact JSON of replies and watch lines, fast decoding),
``blockyaml`` (the fast parser of block-style manifest YAML), ``protobuf``
(Kubernetes protobuf request bodies into the dicts a JSON body gives) and its
message tables ``protomessages``, ``protokinds`` and ``protoreviews``.

Bytes in, plain data out (and back): nothing here knows the store, a schema
beyond its own message tables, or the HTTP request a body came with. Imports
only ``machinery``.
"""
