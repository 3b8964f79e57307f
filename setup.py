"""setuptools, plus one build step: the front-end files that no PyPI package ships.

htmx's SSE extension for htmx 2 (htmx-ext-sse) is published on npm only; the PyPI package
that brings htmx (django-js-lib-htmx) carries just the htmx 1 version, which htmx 2 cannot
run. So `pip install` (editable or not) downloads the pinned npm release, checks it against
the integrity hash npm publishes for it, and puts its one file in cdp/static/vendor/, where
the app serves it like htmx. Nothing is copied by hand or kept in git (see vendor_assets.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).parent / "scripts"))

import vendor_assets


class BuildWithVendorAssets(build_py):
    def run(self) -> None:
        vendor_assets.fetch_all(Path(__file__).parent / "cdp" / "static" / "vendor")
        super().run()


setup(cmdclass={"build_py": BuildWithVendorAssets})
