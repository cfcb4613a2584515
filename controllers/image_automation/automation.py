"""The ImageUpdateAutomation reconciler: commit the images ImagePolicies elect into Git.

One step, **automate** (only the meta conditions, derived by the runtime's
summarizer from the error kind):

1. ``spec.sourceRef``: the GitRepository (the automation's namespace by
   default) from the informer; missing is a wait (``DependencyNotReady``).
   The checkout reference is ``spec.git.checkout.ref``, else the
   GitRepository's ``spec.ref`` (``checkouts``). ``spec.git`` missing, an
   invalid reference, a tag, semver, name or bare-commit checkout without
   ``spec.git.push.branch``, or a message template outside the supported
   subset stalls (``InvalidSourceConfiguration``; ``RemovedTemplateField``
   for the removed ``.Updated`` data).
2. The ImagePolicies of the automation's namespace that ``spec.policySelector``
   selects (all when absent) and that have a ``status.latestRef`` define the
   setters; they are recorded in ``status.observedPolicies``.
3. Clone, update ``spec.update.path``, commit and push (``committing``) in a
   temporary directory, with the GitRepository's ``secretRef`` credentials.
   A Git failure (refused credentials, rejected push) is
   ``GitOperationFailed``, retried; the skeleton writes the condition, the
   Warning event and the error log line.

``status.lastAutomationRunTime`` is set on every run,
``observedSourceRevision`` to the commit the update started from, and a
pushed commit sets ``lastPushCommit``/``lastPushTime`` and emits a Normal
event with the commit message. A changed ``latestRef`` of a selected
ImagePolicy requeues the automation at once (``policy_requests``).
"""

from __future__ import annotations

import asyncio
import pathlib
import tempfile
from collections.abc import Callable
from typing import Any

from controllers.image_automation import (
    checkouts,
    committing,
    messages,
    setters,
    signing,
    templating,
)
from shared.api import image, meta, objects, source
from shared.kube import client as kube_client
from shared.kube import references
from shared.runtime import conditions, events, informers, logging, reconciling, results

SUMMARY = conditions.Summary(owned=(), negative=frozenset())
DEPENDENCY_RETRY = 30.0
"""Seconds before an automation waiting for its GitRepository looks again."""

Run = reconciling.Run[image.ImageUpdateAutomation, image.ImageUpdateAutomationStatus]


def selects(selector: meta.LabelSelector | None, labels: dict[str, str]) -> bool:
    """Whether a metav1.LabelSelector matches ``labels`` (None and {} select everything)."""
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for requirement in selector.match_expressions or ():
        present = requirement.key in labels
        value = labels.get(requirement.key)
        allowed = requirement.values or []
        holds = {
            "In": present and value in allowed,
            "NotIn": not present or value not in allowed,
            "Exists": present,
            "DoesNotExist": not present,
        }.get(requirement.operator, False)
        if not holds:
            return False
    return True


def checkout_of(
    git: image.GitSpec, repository: source.GitRepository
) -> tuple[checkouts.Checkout, str]:
    """The checkout reference and the push branch; a stall when they cannot be used."""
    ref = git.checkout.ref if git.checkout is not None else repository.spec.ref
    try:
        checkout = checkouts.plan(ref)
        return checkout, checkouts.push_branch(checkout, git.push.branch if git.push else None)
    except checkouts.InvalidCheckoutError as invalid:
        raise results.StallingError(
            str(invalid), reason=image.INVALID_SOURCE_CONFIG_REASON
        ) from invalid


def policy_requests(automations: informers.Informer) -> Callable[[dict[str, Any]], list[str]]:
    """Informer mapper: the automations of a policy's namespace whose selector matches it."""

    def mapper(policy: dict[str, Any]) -> list[str]:
        metadata = policy.get("metadata") or {}
        labels = metadata.get("labels") or {}
        keys: list[str] = []
        for raw in automations.objects():
            if (raw.get("metadata") or {}).get("namespace") != metadata.get("namespace"):
                continue
            selector = (raw.get("spec") or {}).get("policySelector")
            parsed = meta.LabelSelector.model_validate(selector) if selector else None
            if selects(parsed, labels):
                keys.append(informers.key_of(raw))
        return keys

    return mapper


def latest_ref_changed(_: str, new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Informer filter: the policy's ``status.latestRef`` changed."""

    def latest(obj: dict[str, Any] | None) -> Any:
        return ((obj or {}).get("status") or {}).get("latestRef")

    return bool(latest(new) != latest(old))


class ImageUpdateAutomationReconciler:
    """Runs each ImageUpdateAutomation: setters over a clone, then commit and push."""

    kind = image.ImageUpdateAutomation
    status_type = image.ImageUpdateAutomationStatus
    run_type = Run
    summary = SUMMARY

    def __init__(
        self,
        *,
        api: kube_client.Client,
        repositories: informers.Informer,
        policies: informers.Informer,
        recorder: events.Recorder,
    ) -> None:
        self._api = api
        self._repositories = repositories
        self._policies = policies
        self._recorder = recorder
        self.steps: tuple[reconciling.Step[Run], ...] = (
            reconciling.Step("automate", self._automate),
        )

    def interval(self, obj: image.ImageUpdateAutomation) -> float:
        return meta.parse_duration(obj.spec.interval).total_seconds()

    async def finalize(self, obj: image.ImageUpdateAutomation) -> None:
        """Nothing to release: every run works in its own temporary directory."""

    async def _automate(self, run: Run) -> None:
        obj, status = run.obj, run.status
        namespace = obj.metadata.namespace or "default"
        status.last_automation_run_time = conditions.now()
        repository = self._repository(obj, namespace)
        git = obj.spec.git
        if git is None:
            raise results.StallingError(
                "spec.git is required", reason=image.INVALID_SOURCE_CONFIG_REASON
            )
        checkout, push_branch = checkout_of(git, repository)
        template = self._template(git.commit.message_template)
        policies = self._selected_policies(obj, namespace)
        status.observed_policies = {name: ref for (_, name), ref in policies.items()}
        credentials = await self._credentials(repository, namespace)
        signing_key = await self._signing_key(git.commit.signing_key, namespace)
        author = committing.Author(name=git.commit.author.name or "", email=git.commit.author.email)
        update_path = obj.spec.update.path if obj.spec.update is not None else None

        def message(result: setters.Result) -> str:
            return messages.render(
                template,
                namespace=namespace,
                name=obj.metadata.name or "",
                result=result,
                values=dict(git.commit.message_template_values or {}),
            )

        run.progress(f"updating {repository.spec.url}")
        with tempfile.TemporaryDirectory(prefix="automation-") as workdir:
            try:
                job = committing.Job(
                    url=repository.spec.url,
                    credentials=credentials,
                    checkout=checkout,
                    push=committing.PushTarget(
                        branch=push_branch,
                        refspec=git.push.refspec if git.push else None,
                        options=dict(git.push.options or {}) if git.push else None,
                    ),
                    update_path=update_path,
                    setter_values=setters.setter_values(policies),
                    author=author,
                    message=message,
                    signing_key=signing_key,
                )
                outcome = await asyncio.to_thread(
                    committing.run, job, workdir=pathlib.Path(workdir) / "repo"
                )
            except committing.GitError as failed:
                raise results.ReconcileError(str(failed), reason=failed.reason) from failed
            except signing.SigningError as failed:
                raise results.ReconcileError(
                    f"signing the commit: {failed}", reason=image.INVALID_SOURCE_CONFIG_REASON
                ) from failed
            except templating.TemplateError as failed:
                raise results.StallingError(
                    f"rendering the commit message: {failed}",
                    reason=image.INVALID_SOURCE_CONFIG_REASON,
                ) from failed
        status.observed_source_revision = outcome.source_revision
        if outcome.commit is None:
            run.ready_message = "repository up-to-date"
            return
        status.last_push_commit = outcome.commit
        status.last_push_time = conditions.now()
        summary = f"pushed commit '{outcome.commit[:7]}' to branch '{push_branch}'"
        run.ready_message = summary
        body = message(outcome.result)
        logging.get_logger().info(summary, commit=outcome.commit, branch=push_branch)
        await self._recorder.emit(
            objects.dump(obj),
            type_=events.NORMAL,
            reason=meta.SUCCEEDED_REASON,
            message=f"{summary}\n{body}",
            metadata={"revision": f"{push_branch}@sha1:{outcome.commit}"},
        )

    def _repository(self, obj: image.ImageUpdateAutomation, namespace: str) -> source.GitRepository:
        ref = obj.spec.source_ref
        key = f"{ref.namespace or namespace}/{ref.name}"
        raw = self._repositories.get(key)
        if raw is None:
            raise results.WaitingError(
                f"referenced GitRepository '{key}' not found",
                reason=meta.DEPENDENCY_NOT_READY_REASON,
                requeue_after=DEPENDENCY_RETRY,
            )
        return source.GitRepository.model_validate(raw)

    @staticmethod
    def _template(text: str | None) -> templating.Template:
        if text and ".Updated" in text:
            raise results.StallingError(
                "the message template uses the removed .Updated data; use .Changed",
                reason=image.REMOVED_TEMPLATE_FIELD_REASON,
            )
        try:
            return messages.parse(text)
        except templating.TemplateError as invalid:
            raise results.StallingError(
                f"invalid commit message template: {invalid}",
                reason=image.INVALID_SOURCE_CONFIG_REASON,
            ) from invalid

    def _selected_policies(
        self, obj: image.ImageUpdateAutomation, namespace: str
    ) -> dict[tuple[str, str], image.ImageRef]:
        selected: dict[tuple[str, str], image.ImageRef] = {}
        for raw in self._policies.objects():
            metadata = raw.get("metadata") or {}
            if metadata.get("namespace") != namespace:
                continue
            if not selects(obj.spec.policy_selector, metadata.get("labels") or {}):
                continue
            latest = (raw.get("status") or {}).get("latestRef")
            if latest:
                selected[(namespace, metadata["name"])] = image.ImageRef.model_validate(latest)
        return dict(sorted(selected.items()))

    async def _secret(self, namespace: str, name: str, what: str) -> dict[str, bytes]:
        try:
            return await references.secret_data(self._api, namespace, name)
        except references.ReferenceNotFoundError as missing:
            raise results.ReconcileError(
                f"{what} secret '{namespace}/{name}' not found",
                reason=image.INVALID_SOURCE_CONFIG_REASON,
            ) from missing

    async def _credentials(
        self, repository: source.GitRepository, namespace: str
    ) -> committing.Credentials:
        secret_ref = repository.spec.secret_ref
        if secret_ref is None:
            return committing.Credentials()
        repo_namespace = repository.metadata.namespace or namespace
        data = await self._secret(repo_namespace, secret_ref.name, "Git credentials")
        try:
            return committing.credentials_from_secret(data, url=repository.spec.url)
        except committing.GitError as invalid:
            raise results.StallingError(str(invalid), reason=invalid.reason) from invalid

    async def _signing_key(
        self, spec: image.SigningKey | None, namespace: str
    ) -> signing.SigningKey | None:
        if spec is None:
            return None
        if spec.type == "ssh":
            raise results.StallingError(
                "ssh commit signing is not supported by Headwater; use a gpg key",
                reason=image.INVALID_SOURCE_CONFIG_REASON,
            )
        data = await self._secret(namespace, spec.secret_ref.name, "signing key")
        try:
            return signing.key_from_secret(data)
        except signing.SigningError as invalid:
            raise results.StallingError(
                str(invalid), reason=image.INVALID_SOURCE_CONFIG_REASON
            ) from invalid
