"""Commit messages: the template data Flux documents, rendered with the template subset.

The data is Flux's: ``.AutomationObject`` (prints as ``namespace/name``,
with ``.Name`` and ``.Namespace``), ``.Changed`` with ``.FileChanges`` (file
→ object → changes), ``.Objects`` (object → changes) and ``.Changes`` (all
changes); an object has ``.APIVersion``, ``.Kind``, ``.Name``,
``.Namespace``, a change ``.OldValue``, ``.NewValue``, ``.Setter``; and
``.Values`` from ``spec.git.commit.messageTemplateValues``.
"""

from __future__ import annotations

from controllers.image_automation import setters, templating

DEFAULT_TEMPLATE = "Update from image update automation"
"""The message used when spec.git.commit.messageTemplate is empty (Flux's default)."""


def parse(template: str | None) -> templating.Template:
    """The parsed message template (the default when empty); TemplateError when refused."""
    return templating.Template(template or DEFAULT_TEMPLATE)


def render(
    template: templating.Template,
    *,
    namespace: str,
    name: str,
    result: setters.Result,
    values: dict[str, str] | None = None,
) -> str:
    """The commit message for the changes in ``result``; TemplateError when the template fails."""
    data = templating.Struct(
        (
            (
                "AutomationObject",
                templating.Struct(
                    (("Name", name), ("Namespace", namespace)), text=f"{namespace}/{name}"
                ),
            ),
            ("Changed", _changed(result)),
            ("Values", dict(values or {})),
        )
    )
    return template.render(data)


def _changed(result: setters.Result) -> templating.Struct:
    file_changes = {
        file: {_object(obj): [_change(c) for c in changes] for obj, changes in objects.items()}
        for file, objects in result.file_changes.items()
    }
    objects = {
        _object(obj): [_change(c) for c in changes] for obj, changes in result.objects().items()
    }
    return templating.Struct(
        (
            ("FileChanges", file_changes),
            ("Objects", objects),
            ("Changes", [_change(c) for c in result.changes()]),
        )
    )


def _object(obj: setters.ObjectIdentifier) -> templating.Struct:
    return templating.Struct(
        (
            ("APIVersion", obj.api_version),
            ("Kind", obj.kind),
            ("Name", obj.name),
            ("Namespace", obj.namespace),
        )
    )


def _change(change: setters.Change) -> templating.Struct:
    return templating.Struct(
        (
            ("OldValue", change.old_value),
            ("NewValue", change.new_value),
            ("Setter", change.setter),
        )
    )
