"""Front-end files from the npm registry, pinned by version and integrity hash: used by the
build (setup.py) for what no PyPI package ships. Run by hand: `python scripts/vendor_assets.py`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class NpmFile:
    package: str
    version: str
    integrity: str  # sha512 of the release tarball, as `npm view PACKAGE@VERSION dist.integrity`
    member: str  # the file inside the tarball
    target: str  # where it goes, under cdp/static/vendor/

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.package}/-/{self.package}-{self.version}.tgz"


ASSETS = (
    NpmFile(
        package="htmx-ext-sse",
        version="2.2.4",
        integrity="sha512-LJmxVhykyflBWgh5PvbRidcyuqMHlgfajmmzumvKctv9puvsufeH6OaejSMZTNTnEI8O2wXXn4ZZtBdpEMqmEQ==",
        member="package/dist/sse.js",
        target="htmx-ext-sse/sse.js",
    ),
)


def _stamp(asset: NpmFile) -> str:
    return f"{asset.package}@{asset.version} {asset.integrity}"


def fetch(asset: NpmFile, vendor: Path) -> None:
    target = vendor / asset.target
    stamp = target.with_suffix(target.suffix + ".version")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == _stamp(asset):
        return  # this release is here already
    with urllib.request.urlopen(asset.url, timeout=60) as answer:
        tarball = answer.read()
    algorithm, _, expected = asset.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if actual != expected:
        raise RuntimeError(f"{asset.url} does not match its pinned integrity hash")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(asset.member)
        if member is None:
            raise RuntimeError(f"{asset.url} holds no {asset.member}")
        content = member.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    stamp.write_text(_stamp(asset) + "\n")


def fetch_all(vendor: Path) -> None:
    for asset in ASSETS:
        fetch(asset, vendor)


if __name__ == "__main__":
    fetch_all(Path(__file__).resolve().parent.parent / "cdp" / "static" / "vendor")
