"""Failures of Helm source operations, each with the Flux condition reason it maps to.

Tree::

    HelmError                  reason (condition)
    ├── InvalidUrlError        URLInvalid            (FetchFailed, stalling)
    ├── ClientConfigError      Failed                (FetchFailed, stalling)
    ├── AuthError              AuthenticationFailed  (FetchFailed)
    ├── FetchError             Failed                (FetchFailed: HTTP, TLS, size)
    ├── IndexationError        IndexationFailed      (FetchFailed: index unreadable)
    ├── VerificationError      VerificationError     (SourceVerified=False: no usable keys)
    │   └── UnsupportedVerificationError             (the same, stalling: not implemented)
    └── BuildError             one of Flux's chart build reasons (see ``BuildReason``)

A ``BuildError``'s message is Flux's ``<summary>: <cause>`` ("invalid chart
reference: failed to get chart version for remote reference: ...").
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from shared.api import meta, source_conditions


class HelmError(Exception):
    """A Helm source operation failed; ``reason`` is the Flux condition reason."""

    reason: ClassVar[str] = meta.FAILED_REASON
    stalling: ClassVar[bool] = False
    """True when retrying cannot help until the spec changes."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidUrlError(HelmError):
    reason = source_conditions.URL_INVALID_REASON
    stalling = True


class ClientConfigError(HelmError):
    """The repository's spec cannot make a client (an OCI HelmRepository without ``oci://``)."""

    stalling = True


class AuthError(HelmError):
    reason = source_conditions.AUTHENTICATION_FAILED_REASON


class FetchError(HelmError):
    """The server refused, failed or sent more than the limit allows."""


class IndexationError(HelmError):
    reason = source_conditions.INDEXATION_FAILED_REASON


class VerificationError(HelmError):
    """``spec.verify`` cannot be applied (its Secret, its keys); not a bad signature."""

    reason = source_conditions.VERIFICATION_ERROR_REASON


class UnsupportedVerificationError(VerificationError):
    """``spec.verify`` asks for what is not implemented (keyless cosign, Notation)."""

    stalling = True


@dataclasses.dataclass(frozen=True)
class BuildReason:
    """Flux's chart build error reasons: a condition reason and a human summary."""

    reason: str
    summary: str
    persistent: bool = False
    """A spec change is needed: the reconcile stalls."""


CHART_REFERENCE = BuildReason(
    source_conditions.INVALID_CHART_REFERENCE_REASON, "invalid chart reference", persistent=True
)
CHART_PULL = BuildReason(source_conditions.CHART_PULL_ERROR_REASON, "chart pull error")
METADATA_PATCH = BuildReason(
    source_conditions.METADATA_PATCH_ERROR_REASON, "chart metadata patch error", persistent=True
)
VALUES_FILES = BuildReason(
    source_conditions.VALUES_FILES_ERROR_REASON, "values files merge error", persistent=True
)
DEPENDENCY_BUILD = BuildReason(
    source_conditions.DEPENDENCY_BUILD_ERROR_REASON, "dependency build error"
)
CHART_PACKAGE = BuildReason("ChartPackageError", "chart package error")
CHART_VERIFICATION = BuildReason(
    source_conditions.CHART_VERIFICATION_ERROR_REASON, "chart verification error"
)


class BuildError(HelmError):
    """Building the chart artifact failed for ``why``."""

    def __init__(self, why: BuildReason, cause: str) -> None:
        super().__init__(f"{why.summary}: {cause}")
        self.why = why

    @property
    def build_reason(self) -> str:
        return self.why.reason
