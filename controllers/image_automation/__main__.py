"""image-automation-controller: ``python -m controllers.image_automation``.

Runs ImageUpdateAutomations: the images their ImagePolicies elect are
written into the GitRepository's files (Setters strategy), committed and
pushed. An automation runs again as soon as a selected ImagePolicy's
``status.latestRef`` changes. Takes the common controller flags (see
``shared.runtime.options``); it has no flags of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from controllers.image_automation import automation
from shared.api import image, source
from shared.runtime import logging, manager, options, scratch

CONTROLLER_NAME = "image-automation-controller"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=CONTROLLER_NAME, description=__doc__.splitlines()[0])
    options.add_common_flags(parser)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    return await manager.run_process(options.from_args(args), name=CONTROLLER_NAME, setup=_setup)


async def _setup(mgr: manager.Manager) -> None:
    repositories = await mgr.informer(
        source.API_VERSION, "GitRepository", scope=mgr.default_scope()
    )
    policies = await mgr.informer(image.API_VERSION, "ImagePolicy", scope=mgr.default_scope())
    automations = await mgr.add_controller(
        automation.ImageUpdateAutomationReconciler(
            api=mgr.api, repositories=repositories, policies=policies, recorder=mgr.recorder
        )
    )
    automations.watch(
        policies,
        automation.policy_requests(automations.informer),
        when=automation.latest_ref_changed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.configure(level=args.log_level, encoding=args.log_encoding)
    scratch.claim(CONTROLLER_NAME)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
