"""image-automation-controller: commits the images ImagePolicies elect into Git.

``setters`` is the pure Setters update strategy (YAML files edited in place).
"""
