"""Authentication, authorization, and who a request comes from.

``identities`` (the devcluster's user and impersonation), ``tokens``
(TokenRequest: service-account tokens), ``serviceaccounts`` (token
credentials and token Secrets), ``authorizing`` (the request filter of
``--authorization-mode RBAC``: credentials, impersonation, 403s), ``rbac``
(pure rule evaluation), ``rbacpolicy`` (stored policy, bootstrap roles,
ClusterRole aggregation) and ``reviews`` (access, rules and identity reviews,
answered and never stored).

Served through ``endpoints``' handler helpers, above them; the server's
routing and middleware live in ``server``.
"""
