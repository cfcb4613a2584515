"""image-automation-controller: commits the images ImagePolicies elect into Git.

Layers (an import-linter contract): ``__main__`` (the process) above
``automation`` (the ImageUpdateAutomation reconciler) above ``committing``
(clone, commit, push over HTTP(S) or SSH) and ``messages`` (commit messages)
above the pure domain code: ``checkouts`` (the checkout reference and the
push branch), ``setters`` (the Setters strategy, YAML edited in place),
``templating`` (a Go text/template subset) and ``signing`` (OpenPGP commit
signatures with gpg). No Kubernetes access below ``automation``.
"""
