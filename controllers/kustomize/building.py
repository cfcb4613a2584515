"""Build a Kustomization's manifests: generate, overlay, ``kubectl kustomize``, post-build.

Contract (``build`` runs the steps in Flux's order):

1. ``resolve_path`` joins ``spec.path`` under the artifact root; leaving the
   root is a ``BuildError`` and a missing directory a ``PathNotFoundError``
   (the reconciler reports that one as ArtifactFailed).
2. ``generate`` writes a ``kustomization.yaml`` when the directory has none:
   every ``.yaml``/``.yml`` file below it becomes a resource (each must parse
   as Kubernetes YAML) and every sub-directory holding its own kustomization
   becomes one without being descended into.
3. ``apply_overlays`` writes the Kustomization's own settings into that file:
   ``targetNamespace`` (replaces ``namespace``), ``namePrefix`` and
   ``nameSuffix`` (composed around the file's own, as an outer overlay
   would), ``patches`` (appended), ``images`` (replacing an entry of the same
   name), ``components`` (appended; missing ones dropped with
   ``ignoreMissingComponents``) and ``buildMetadata``.
4. ``check_confinement`` refuses every path the kustomizations may load
   from outside the root (bases, components, patches, generator sources,
   plugin configurations, … — see ``confining``) and, unless allowed, every
   remote reference; the message names the kustomization file, the field
   and the entry.
5. With decryption keys, SOPS-encrypted secretGenerator sources are
   decrypted in place (``sopsfiles.decrypt_sources``), and every encrypted
   manifest file must pass its SOPS MAC check as committed (kustomize sorts
   keys, so the MAC cannot be checked after the build; Flux skips it).
6. ``run_kustomize`` runs ``kubectl kustomize`` asynchronously with plugins
   and Helm off, the load restrictor on (``LoadRestrictionsRootOnly``) and a
   timeout, in an environment of its own. Without remote bases the process
   cannot open a network socket (``isolating``), every proxy variable points
   at a closed port and git allows no protocol. kustomize's error text is
   kept for the BuildFailed condition.
7. Each built object must have apiVersion, kind and name; it is decrypted
   (with keys), substituted (``postBuild``) and stamped with
   ``commonMetadata`` labels and annotations, which override its own.

``build`` mutates the tree under ``root``: callers pass a scratch copy of the
artifact. Reading, writing and parsing files runs in worker threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import sys
import tempfile
from collections.abc import Mapping
from typing import Any

from controllers.kustomize import (
    confining,
    decrypting,
    isolating,
    kustomizefiles,
    sopsfiles,
    substituting,
)
from shared.api import kustomize
from shared.kube import manifests

KUSTOMIZE_API_VERSION = "kustomize.config.k8s.io/v1beta1"
DEFAULT_TIMEOUT = 300.0
_UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "socks_proxy")
_SELECTOR_FIELDS = (
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
)


class BuildError(Exception):
    """The manifests could not be built; the message is the BuildFailed condition's."""


class PathNotFoundError(BuildError):
    """``spec.path`` does not exist in the artifact."""


@dataclasses.dataclass(frozen=True)
class Build:
    """What a build produced: the objects in kustomize's order, their YAML and its digest."""

    objects: list[dict[str, Any]]
    manifests: str
    digest: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Options:
    """How to run kustomize: the kubectl binary, a time limit and the remote-base policy."""

    kubectl: str = "kubectl"
    timeout: float = DEFAULT_TIMEOUT
    allow_remote_bases: bool = False


def resolve_path(root: pathlib.Path, path: str | None) -> pathlib.Path:
    """``path`` joined under ``root`` without leaving it."""
    base = root.resolve()
    target = (base / (path or ".").lstrip("/")).resolve()
    if target != base and base not in target.parents:
        raise BuildError(f"path '{path}' is not in or below the artifact root")
    if not target.is_dir():
        raise PathNotFoundError(f"kustomization path not found: {path or './'}")
    return target


def generate(directory: pathlib.Path, *, root: pathlib.Path) -> bool:
    """Write a kustomization.yaml listing the directory's manifests; False when one exists."""
    if kustomizefiles.kustomization_file(directory) is not None:
        return False
    resources = [
        "./" + path.relative_to(directory).as_posix() for path in _scan(directory, root.resolve())
    ]
    document = {
        "apiVersion": KUSTOMIZE_API_VERSION,
        "kind": "Kustomization",
        "resources": resources,
    }
    (directory / "kustomization.yaml").write_text(manifests.dump(document))
    return True


def _scan(directory: pathlib.Path, root: pathlib.Path) -> list[pathlib.Path]:
    found: list[pathlib.Path] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.is_symlink() and entry.is_dir():
            continue  # Go's Walk does not follow directory links
        if entry.is_dir():
            if kustomizefiles.kustomization_file(entry) is not None:
                found.append(entry)
            else:
                found.extend(_scan(entry, root))
            continue
        if entry.suffix not in (".yaml", ".yml"):
            continue
        resolved = entry.resolve()
        if root not in resolved.parents:
            raise BuildError(f"file '{entry.name}' links outside the artifact root")
        try:
            manifests.load_all(resolved.read_text())
        except (UnicodeDecodeError, manifests.ManifestError) as err:
            raise BuildError(f"failed to decode Kubernetes YAML from {entry}: {err}") from err
        found.append(entry)
    return found


def apply_overlays(
    directory: pathlib.Path, spec: kustomize.KustomizationSpec, *, root: pathlib.Path
) -> None:
    """Write the Kustomization's overlays into the directory's kustomization file."""
    path = kustomizefiles.kustomization_file(directory)
    if path is None:
        raise BuildError(f"no kustomization file in {directory}")
    try:
        documents = manifests.load_all(path.read_text())
    except (UnicodeDecodeError, manifests.ManifestError) as err:
        raise BuildError(f"kustomize build failed: invalid {path.name}: {err}") from err
    document: dict[str, Any] = documents[0] if documents else {}
    document.setdefault("apiVersion", KUSTOMIZE_API_VERSION)
    document.setdefault("kind", "Kustomization")
    if spec.target_namespace:
        document["namespace"] = spec.target_namespace
    if spec.name_prefix:
        document["namePrefix"] = spec.name_prefix + str(document.get("namePrefix") or "")
    if spec.name_suffix:
        document["nameSuffix"] = str(document.get("nameSuffix") or "") + spec.name_suffix
    for patch in spec.patches or ():
        entry: dict[str, Any] = {"patch": patch.patch}
        if patch.target is not None:
            target = patch.target.model_dump(by_alias=True, exclude_none=True)
            entry["target"] = {k: target[k] for k in _SELECTOR_FIELDS if target.get(k)}
        document.setdefault("patches", []).append(entry)
    for image in spec.images or ():
        override = image.model_dump(by_alias=True, exclude_none=True)
        images: list[dict[str, Any]] = document.setdefault("images", [])
        index = next((i for i, e in enumerate(images) if e.get("name") == image.name), None)
        if index is None:
            images.append(override)
        else:
            images[index] = override
    for component in spec.components or ():
        candidate = (directory / component).resolve()
        base = root.resolve()
        if candidate != base and base not in candidate.parents:
            raise BuildError(f"component '{component}' is not in or below the artifact root")
        if spec.ignore_missing_components and not candidate.exists():
            continue
        document.setdefault("components", []).append(component)
    if spec.build_metadata:
        document["buildMetadata"] = list(spec.build_metadata)
    path.write_text(manifests.dump(document))


def check_confinement(directory: pathlib.Path, *, root: pathlib.Path, options: Options) -> None:
    """Refuse, before kustomize runs, any path it could load from outside ``root``.

    Also refuses remote references unless ``options.allow_remote_bases``
    (see ``confining``); the message names each kustomization file, field
    and entry.
    """
    refused = confining.refusals(directory, root=root, allow_remote=options.allow_remote_bases)
    if refused:
        details = "; ".join(refusal.message() for refusal in refused)
        raise BuildError(f"kustomize build failed: {details}")


def _kustomize_env(*, allow_remote_bases: bool, home: str) -> dict[str, str]:
    """kustomize's whole environment: nothing inherited but PATH, HOME a scratch directory."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "XDG_CONFIG_HOME": home,
        "XDG_CACHE_HOME": home,
        "KUBECONFIG": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
    }
    if not allow_remote_bases:
        # Defence in depth behind check_confinement (the process also runs
        # under isolating's seccomp filter, which alone covers 127.0.0.1: Go
        # never proxies loopback): every proxy variable kustomize, Go or git
        # reads points at a closed port, none is bypassed, git allows no
        # transport and has no ssh.
        for name in _PROXY_VARIABLES:
            env[name] = env[name.upper()] = _UNREACHABLE
        env.update(
            NO_PROXY="",
            no_proxy="",
            GIT_ALLOW_PROTOCOL="none",
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="protocol.allow",
            GIT_CONFIG_VALUE_0="never",
            GIT_SSH_COMMAND="false",
            GIT_PROXY_COMMAND="false",
        )
    return env


def _executable(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BuildError(f"kustomize build failed: {name} not found")
    return os.path.abspath(found)  # the process runs in a scratch working directory


async def run_kustomize(directory: pathlib.Path, *, options: Options) -> str:
    """``kubectl kustomize`` of a directory: the YAML it printed, or a ``BuildError``.

    It checks no path (``check_confinement`` does, before); without
    ``allow_remote_bases`` the process cannot open a network socket.
    """
    command = [_executable(options.kubectl)]
    if not options.allow_remote_bases:
        command = [sys.executable, "-I", "-S", isolating.__file__, *command]
    with tempfile.TemporaryDirectory(prefix="kustomize-home-") as home:
        process = await asyncio.create_subprocess_exec(
            *command,
            "kustomize",
            str(directory),
            "--load-restrictor=LoadRestrictionsRootOnly",
            "--enable-alpha-plugins=false",
            "--enable-helm=false",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_kustomize_env(allow_remote_bases=options.allow_remote_bases, home=home),
            cwd=home,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), options.timeout)
        except TimeoutError as err:
            process.kill()
            await process.wait()
            raise BuildError(
                f"kustomize build failed: timed out after {options.timeout:g}s"
            ) from err
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    if process.returncode == isolating.EXIT_UNISOLATED and not options.allow_remote_bases:
        raise BuildError(f"kustomize build failed: {stderr.decode(errors='replace').strip()}")
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().removeprefix("error: ")
        raise BuildError(f"kustomize build failed: {message}")
    return stdout.decode()


def set_common_metadata(obj: dict[str, Any], common: kustomize.CommonMetadata | None) -> None:
    """Stamp ``commonMetadata`` labels and annotations on an object, overriding its own."""
    if common is None:
        return
    metadata = obj.setdefault("metadata", {})
    if common.labels:
        metadata["labels"] = {**(metadata.get("labels") or {}), **common.labels}
    if common.annotations:
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **common.annotations}


def post_build(
    output: str,
    spec: kustomize.KustomizationSpec,
    *,
    variables: Mapping[str, str],
    keys: decrypting.Keys | None,
    strict: bool,
) -> Build:
    """Decrypt, substitute and stamp the objects kustomize built; Flux's per-object loop."""
    substitute = substituting.enabled(spec.post_build, variables)
    objects: list[dict[str, Any]] = []
    for text in manifests.split(output):
        try:
            [obj] = manifests.load_all(text)
        except (ValueError, manifests.ManifestError) as err:
            raise BuildError(f"kustomize build failed: {err}") from err
        metadata = obj.get("metadata") or {}
        if not (obj.get("apiVersion") and obj.get("kind") and metadata.get("name")):
            raise BuildError(
                f"failed to decode Kubernetes apiVersion, kind and name from: {text.strip()}"
            )
        name = metadata["name"]
        if keys is not None:
            try:
                decrypted = decrypting.decrypt_object(obj, keys, verify_mac=False)
            except decrypting.DecryptionError as err:
                raise BuildError(f"decryption failed for '{name}': {err}") from err
            if decrypted is not None:
                obj, text = decrypted, manifests.dump(decrypted)
        if substitute:
            try:
                obj = substituting.substitute_document(text, obj, variables, strict=strict)
            except substituting.SubstitutionError as err:
                raise BuildError(f"post build failed for '{name}': {err}") from err
        set_common_metadata(obj, spec.common_metadata)
        objects.append(obj)
    rendered = manifests.dump_all(objects)
    digest = "sha256:" + hashlib.sha256(rendered.encode()).hexdigest()
    return Build(objects=objects, manifests=rendered, digest=digest)


async def render(
    root: pathlib.Path,
    spec: kustomize.KustomizationSpec,
    *,
    options: Options,
    keys: decrypting.Keys | None = None,
) -> str:
    """Steps 1-6: kustomize's output for ``spec.path`` of the tree at ``root`` (modified)."""
    directory = resolve_path(root, spec.path)
    await asyncio.to_thread(_prepare, directory, spec, root, keys, options)
    return await run_kustomize(directory, options=options)


def render_key(artifact_digest: str, spec: kustomize.KustomizationSpec) -> str:
    """What ``render``'s output depends on: the artifact and the build-shaping fields.

    Post-build settings are left out (they are applied per Kustomization), so
    Kustomizations that build one path of one artifact alike share a render.
    """
    shaping = spec.model_dump(
        mode="json",
        by_alias=True,
        include={
            "path",
            "target_namespace",
            "name_prefix",
            "name_suffix",
            "patches",
            "images",
            "components",
            "ignore_missing_components",
            "build_metadata",
        },
    )
    text = json.dumps(shaping, sort_keys=True)
    return f"{artifact_digest}:{hashlib.sha256(text.encode()).hexdigest()}"


async def build(
    root: pathlib.Path,
    spec: kustomize.KustomizationSpec,
    *,
    options: Options,
    variables: Mapping[str, str] | None = None,
    keys: decrypting.Keys | None = None,
    strict: bool = False,
) -> Build:
    """Build ``spec.path`` of the artifact tree at ``root`` (a scratch copy: it is modified)."""
    output = await render(root, spec, options=options, keys=keys)
    return await asyncio.to_thread(
        post_build, output, spec, variables=variables or {}, keys=keys, strict=strict
    )


def _prepare(
    directory: pathlib.Path,
    spec: kustomize.KustomizationSpec,
    root: pathlib.Path,
    keys: decrypting.Keys | None,
    options: Options,
) -> None:
    generate(directory, root=root)
    apply_overlays(directory, spec, root=root)
    # After the overlays (they add components), before anything reads a source.
    check_confinement(directory, root=root, options=options)
    if keys is None:
        return
    try:
        sopsfiles.decrypt_sources(
            directory, root=root, decrypt=lambda tree: decrypting.decrypt_tree(tree, keys)
        )
    except (sopsfiles.SourceError, decrypting.DecryptionError) as err:
        raise BuildError(f"error decrypting sources: {err}") from err
    verify_encrypted_files(directory, root=root, keys=keys)


def verify_encrypted_files(
    directory: pathlib.Path, *, root: pathlib.Path, keys: decrypting.Keys
) -> None:
    """Check the SOPS MAC of every encrypted manifest as committed, before kustomize reorders it."""
    try:
        files = sopsfiles.resource_files(directory, root=root)
    except sopsfiles.SourceError as err:
        raise BuildError(f"error decrypting sources: {err}") from err
    for path in files:
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        content = path.read_bytes()
        if not (
            sopsfiles.is_encrypted(content, sopsfiles.YAML)
            or sopsfiles.is_encrypted(content, sopsfiles.JSON)
        ):
            continue
        try:
            documents = manifests.load_all(content.decode())
        except (UnicodeDecodeError, manifests.ManifestError):
            continue  # kustomize reports unreadable manifests itself
        for document in documents:
            if not decrypting.is_encrypted(document) or decrypting.decryption_disabled(document):
                continue
            name = (document.get("metadata") or {}).get("name", path.name)
            try:
                decrypting.decrypt_tree(document, keys)
            except decrypting.DecryptionError as err:
                raise BuildError(
                    f"decryption failed for '{name}': {path.relative_to(root.resolve())}: {err}"
                ) from err
