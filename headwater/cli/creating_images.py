"""``create image repository|policy|update``, with Flux's flags and checks.

``policy`` takes exactly one of ``--select-semver``, ``--select-alpha`` and
``--select-numeric`` (``asc`` or ``desc``); ``--filter-extract`` needs
``--filter-regex``, whose pattern must compile; ``--interval`` needs
``--reflect-digest=Always``. ``update`` writes to the GitRepository
``--git-repo-ref`` on ``--checkout-branch`` as ``--author-name`` /
``--author-email``; ``--signing-key-type`` (``gpg`` or ``ssh``) needs
``--signing-key-secret``; ``--git-repo-path`` sets the Setters strategy.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from headwater.cli import creatingkit, session

IMAGE_API = "image.toolkit.fluxcd.io/v1"


def image_repository(args: argparse.Namespace) -> dict[str, Any]:
    """The ImageRepository ``flux create image repository`` makes."""
    if not args.image or any(c.isspace() for c in args.image) or args.image != args.image.lower():
        raise session.CliError(f"unable to parse image value: {args.image!r}")
    spec: dict[str, Any] = {"image": args.image, "interval": args.interval}
    creatingkit.given(
        spec,
        args,
        {"scan_timeout": "timeout"},
        refs={"secret_ref": "secretRef", "cert_ref": "certSecretRef"},
    )
    return creatingkit.flux_object(IMAGE_API, "ImageRepository", args, spec)


def _policy(args: argparse.Namespace) -> dict[str, Any]:
    chosen = [f for f in (args.select_semver, args.select_alpha, args.select_numeric) if f]
    if len(chosen) > 1:
        raise session.CliError(
            "only one of --select-semver, --select-alpha or --select-numeric can be specified"
        )
    if args.select_semver:
        return {"semver": {"range": args.select_semver}}
    for flag, field in ((args.select_alpha, "alphabetical"), (args.select_numeric, "numerical")):
        if flag:
            if flag not in ("asc", "desc"):
                option = "--select-alpha" if field == "alphabetical" else "--select-numeric"
                raise session.CliError(f'{option} must be one of ["asc", "desc"]')
            return {field: {"order": flag}}
    raise session.CliError(
        "a policy must be provided with either --select-semver, --select-alpha or --select-numeric"
    )


def image_policy(args: argparse.Namespace) -> dict[str, Any]:
    """The ImagePolicy ``flux create image policy`` makes."""
    spec: dict[str, Any] = {
        "imageRepositoryRef": creatingkit.local_ref(args.image_ref),
        "policy": _policy(args),
    }
    if args.filter_regex:
        try:
            pattern = re.compile(args.filter_regex)
        except re.error as error:
            raise session.CliError("--filter-regex is an invalid regex pattern") from error
        spec["filterTags"] = {"pattern": args.filter_regex}
        if args.filter_extract:
            names = set(pattern.groupindex) | {str(i) for i in range(pattern.groups + 1)}
            used = re.findall(r"\$\{?(\w+)\}?", args.filter_extract)
            if not used or not set(used) <= names:
                raise session.CliError("--filter-extract is malformed")
            spec["filterTags"]["extract"] = args.filter_extract
    elif args.filter_extract:
        raise session.CliError("cannot specify --filter-extract without specifying --filter-regex")
    if args.reflect_digest:
        spec["digestReflectionPolicy"] = args.reflect_digest
    if args.interval:
        if args.reflect_digest != "Always":
            raise session.CliError(
                "the --interval flag can only be used with the 'Always' digest reflection "
                "policy, use --reflect-digest=Always"
            )
        spec["interval"] = args.interval
    return creatingkit.flux_object(IMAGE_API, "ImagePolicy", args, spec)


def image_update(args: argparse.Namespace) -> dict[str, Any]:
    """The ImageUpdateAutomation ``flux create image update`` makes."""
    if args.signing_key_type and not args.signing_key_secret:
        raise session.CliError("--signing-key-type requires --signing-key-secret")
    commit: dict[str, Any] = {"author": {"email": args.author_email, "name": args.author_name}}
    if args.commit_template:
        commit["messageTemplate"] = args.commit_template
    if args.signing_key_secret:
        commit["signingKey"] = {"secretRef": creatingkit.local_ref(args.signing_key_secret)}
        if args.signing_key_type:
            commit["signingKey"]["type"] = args.signing_key_type
    git: dict[str, Any] = {"checkout": {"ref": {"branch": args.checkout_branch}}, "commit": commit}
    if args.push_branch:
        git["push"] = {"branch": args.push_branch}
    spec: dict[str, Any] = {
        "git": git,
        "interval": args.interval,
        "sourceRef": creatingkit.cross_ref(
            "GitRepository", args.git_repo_ref, args.git_repo_namespace or ""
        ),
    }
    if args.git_repo_path:
        spec["update"] = {"path": args.git_repo_path, "strategy": "Setters"}
    return creatingkit.flux_object(IMAGE_API, "ImageUpdateAutomation", args, spec)


def register(
    image: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    repository = image.add_parser("repository", parents=[common], help="an ImageRepository")
    creatingkit.common_flags(repository, image_repository)
    creatingkit.interval_flag(repository, "how often to scan the tags")
    repository.add_argument("--image", required=True, help="the image to scan, e.g. library/alpine")
    repository.add_argument("--secret-ref", help="a docker-registry Secret")
    repository.add_argument("--cert-ref", help="a Secret with TLS certificates")
    repository.add_argument("--scan-timeout", type=creatingkit.interval, help="timeout of a scan")

    policy = image.add_parser("policy", parents=[common], help="an ImagePolicy")
    creatingkit.common_flags(policy, image_policy)
    policy.add_argument("--image-ref", required=True, help="the ImageRepository in the namespace")
    policy.add_argument("--select-semver", help="a semver range of tags, e.g. '1.x'")
    policy.add_argument("--select-alpha", help="alphabetical order: asc (last) or desc (first)")
    policy.add_argument("--select-numeric", help="numerical order: asc (last) or desc (first)")
    policy.add_argument("--filter-regex", help="only tags matching this regular expression")
    policy.add_argument("--filter-extract", help="what of a tag to sort by, e.g. '$ts'")
    policy.add_argument("--reflect-digest", choices=("Never", "IfNotPresent", "Always"))
    policy.add_argument(
        "--interval", type=creatingkit.interval, help="how often to check digests (with Always)"
    )

    update = image.add_parser("update", parents=[common], help="an ImageUpdateAutomation")
    creatingkit.common_flags(update, image_update)
    creatingkit.interval_flag(update, "how often to update")
    update.add_argument("--git-repo-ref", required=True, help="the GitRepository to write to")
    update.add_argument("--git-repo-namespace", help="its namespace (default: this one)")
    update.add_argument("--git-repo-path", help="the directory of the manifests to update")
    update.add_argument("--checkout-branch", required=True, help="the branch to check out")
    update.add_argument("--push-branch", help="the branch to push to (default: the checkout)")
    update.add_argument("--commit-template", help="the commit message template")
    update.add_argument("--author-name", required=True, help="the commit author's name")
    update.add_argument("--author-email", required=True, help="the commit author's email")
    update.add_argument("--signing-key-secret", help="the Secret with the signing key")
    update.add_argument("--signing-key-type", choices=("gpg", "ssh"), help="default gpg")
