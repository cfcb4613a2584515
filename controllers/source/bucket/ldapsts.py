"""Temporary S3 keys from MinIO's Security Token Service for an LDAP user (``sts.provider: ldap``).

``credentials(endpoint, username=, password=, transport=)`` POSTs
``AssumeRoleWithLDAPIdentity`` (STS API version 2011-06-15) to the STS
endpoint and returns the ``AccessKeyId``, ``SecretAccessKey`` and
``SessionToken`` of its answer. A refusal is a ``BucketError`` with the
service's ``Message``; the password never appears in a message.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from controllers.source.bucket import clients, s3

_NAMESPACE = "{https://sts.amazonaws.com/doc/2011-06-15/}"


async def credentials(
    endpoint: str, *, username: str, password: str, transport: clients.Transport
) -> s3.Credentials:
    """The temporary keys the STS at ``endpoint`` grants ``username``."""
    subject = f"requesting temporary credentials from STS '{endpoint}'"
    http = clients.Http(transport)
    try:
        response = await http.request(
            "POST",
            clients.endpoint_url(endpoint, insecure=False),
            headers={"Accept": "application/xml"},
            data={
                "Action": "AssumeRoleWithLDAPIdentity",
                "Version": "2011-06-15",
                "LDAPUsername": username,
                "LDAPPassword": password,
            },
            subject=subject,
        )
        try:
            body, status = await response.read(), response.status
        finally:
            response.release()
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
