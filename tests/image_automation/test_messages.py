"""Commit messages: Flux's documented templates give Flux's messages; the rest is refused."""

from __future__ import annotations

import hashlib
import re

import pytest

from controllers.image_automation import messages, setters, templating

DOCS_EXAMPLE = """\
Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"""

DOCS_EXAMPLE_WITH_FUNCTIONS = """\
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind | lower }} {{ $resource.Name | lower }}
{{- range $_, $change := $changes }}
  {{ if contains "v2" $change.NewValue -}}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
  {{ else -}}
    [skip ci] wrong image
  {{ end -}}
{{ end -}}
{{ end -}}
"""


def _result() -> setters.Result:
    result = setters.Result()
    web = setters.ObjectIdentifier("apps/v1", "Deployment", name="Web", namespace="apps")
    images = setters.ObjectIdentifier("kustomize.config.k8s.io/v1beta1", "Kustomization")
    result.add("deploy.yaml", web, setters.Change("app:v1", "app:v2", "apps:app"))
    result.add("kustomization.yaml", images, setters.Change("v1", "v3", "apps:other:tag"))
    return result


def _render(template: str | None, values: dict[str, str] | None = None) -> str:
    return messages.render(
        messages.parse(template), namespace="apps", name="auto", result=_result(), values=values
    )


@pytest.mark.parametrize(
    ("template", "values", "message"),
    [
        pytest.param(None, None, "Update from image update automation", id="default"),
        pytest.param(
            "Automated image update by Flux for cluster {{ .Values.cluster }}.",
            {"cluster": "prod"},
            "Automated image update by Flux for cluster prod.",
            id="values",
        ),
        pytest.param(
            "{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}",
            None,
            "app:v1 -> app:v2\nv1 -> v3\n",
            id="changes",
        ),
        pytest.param(
            DOCS_EXAMPLE,
            None,
            "Automated image update\n\nAutomation name: apps/auto\n\nFiles:\n"
            "- deploy.yaml\n- kustomization.yaml\nObjects:\n"
            "- Deployment Web\n  Changes:\n    - app:v1 -> app:v2\n"
            "- Kustomization \n  Changes:\n    - v1 -> v3\n",
            id="docs example",
        ),
        pytest.param(
            DOCS_EXAMPLE_WITH_FUNCTIONS,
            None,
            "- deployment web\n  - app:v1 -> app:v2\n"
            "  - kustomization \n  [skip ci] wrong image\n  ",
            id="docs example with functions",
        ),
        pytest.param(
            '{{ $id := .AutomationObject.Name }}{{ $id = printf "%s-%s" $id "x" }}'
            'Change-Id: {{ printf "I%s" (sha256sum $id | trunc 8) }} {{ len .Changed.Changes }}',
            None,
            f"Change-Id: I{hashlib.sha256(b'auto-x').hexdigest()[:8]} 2",
            id="variables and pipelines",
        ),
        pytest.param(
            "{{ if .Values.missing }}yes{{ else }}no{{ end }}/{{ .AutomationObject.Namespace }}",
            {},
            "no/apps",
            id="a missing value is empty",
        ),
    ],
)
def test_documented_templates_render_as_flux(
    template: str | None, values: dict[str, str] | None, message: str
) -> None:
    assert _render(template, values) == message


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{ with .Values }}x{{ end }}", "{{with}} is not supported"),
        ("{{ now }}", 'function "now" not defined'),
        ("{{ if .Values }}x", "missing {{end}}"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ if .A }}a{{ else if .B }}b{{ end }}", "'else if' is not supported"),
        ("{{/* note */}}", "comments are not supported"),
        ("{{ .A ] }}", "unexpected"),
    ],
)
def test_unsupported_constructs_are_refused_when_parsed(template: str, error: str) -> None:
    with pytest.raises(templating.TemplateError, match=re.escape(error)):
        messages.parse(template)


def test_the_removed_updated_data_fails_when_rendered() -> None:
    with pytest.raises(templating.TemplateError, match="can't evaluate field Updated"):
        _render("{{ range .Updated.Images }}{{ . }}{{ end }}")
