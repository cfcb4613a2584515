"""Hypothesis settings for the property-based tests of the input parsers.

Two profiles, chosen by ``HYPOTHESIS_PROFILE`` (default ``default``):

- ``default`` runs few examples per property so the whole package adds
  seconds, not minutes, to ``make test``;
- ``fuzz`` (``make fuzz``) runs thousands of examples per property.

Neither has a deadline: several properties write files or start ``git``, and
a slow example on a busy machine is not a failure. Every module of this
package sets ``pytestmark = pytest.mark.fuzz`` so ``pytest -m fuzz`` (or
``-m "not fuzz"``) selects them.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
