"""Authentication APIs and who a request comes from.

``identities`` (the devcluster's user and impersonation), ``tokens``
(TokenRequest: service-account tokens) and ``reviews`` (access, rules and
identity reviews, answered and never stored).

Served through ``endpoints``' handler helpers, above them; the server's
routing and middleware live in ``server``.
"""
