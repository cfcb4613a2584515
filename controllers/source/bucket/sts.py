"""Temporary S3 keys from a Security Token Service (the Bucket's ``spec.sts``).

- ``ldap_credentials``: MinIO's ``AssumeRoleWithLDAPIdentity`` for an LDAP
  user and password (``sts.provider: ldap``, the ``generic`` provider);
- ``web_identity_credentials``: AWS STS ``AssumeRoleWithWebIdentity`` for a
  role and the Pod's projected service account token (``sts.provider: aws``,
  the ``aws`` provider, as IRSA's ``AWS_ROLE_ARN`` and
  ``AWS_WEB_IDENTITY_TOKEN_FILE`` describe it).

Both POST the STS API (version 2011-06-15) as a form and return the
``AccessKeyId``, ``SecretAccessKey`` and ``SessionToken`` of the answer. A
refusal is a ``BucketError`` with the service's ``Message``; a password or
token never appears in a message.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping

from controllers.source.bucket import clients, s3

_NAMESPACE = "{https://sts.amazonaws.com/doc/2011-06-15/}"
_VERSION = "2011-06-15"


async def ldap_credentials(
    endpoint: str, *, username: str, password: str, transport: clients.Transport
) -> s3.Credentials:
    """The temporary keys the STS at ``endpoint`` grants LDAP user ``username``."""
    form = {"Action": "AssumeRoleWithLDAPIdentity", "Version": _VERSION,
            "LDAPUsername": username, "LDAPPassword": password}  # fmt: skip
    return await _assume(endpoint, form, transport)


async def web_identity_credentials(
    endpoint: str, *, role_arn: str, token: str, session: str, transport: clients.Transport
) -> s3.Credentials:
    """The temporary keys of role ``role_arn`` for the web identity ``token``."""
    form = {"Action": "AssumeRoleWithWebIdentity", "Version": _VERSION, "RoleArn": role_arn,
            "RoleSessionName": session, "WebIdentityToken": token}  # fmt: skip
    return await _assume(endpoint, form, transport)


async def _assume(
    endpoint: str, form: Mapping[str, str], transport: clients.Transport
) -> s3.Credentials:
    subject = f"requesting temporary credentials from STS '{endpoint}'"
    http = clients.Http(transport)
    try:
        url = clients.endpoint_url(endpoint, insecure=False)
        status, body = await http.post_form(url, form, accept="application/xml", subject=subject)
    finally:
        await http.close()
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        root = ElementTree.Element("unparsable")
    found = root.find(f".//{_NAMESPACE}Credentials")
    if status != 200 or found is None:
        why = root.findtext(f".//{_NAMESPACE}Message") or root.findtext(".//Message") or ""
        raise clients.BucketError(f"{subject}: {status} {why}".rstrip())
    return s3.Credentials(
        access_key=found.findtext(f"{_NAMESPACE}AccessKeyId") or "",
        secret_key=found.findtext(f"{_NAMESPACE}SecretAccessKey") or "",
        session_token=found.findtext(f"{_NAMESPACE}SessionToken") or None,
    )
