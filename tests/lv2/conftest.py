"""LV2 test fixtures: the tiny gain-delay plugin built from source, signing keys, adoption.

Tests that need Debian packages skip with the package named (``scripts/test.sh`` installs
them when run as root): ``liblilv-0-0`` (reading Turtle), ``lv2-dev`` (headers for the
test plugin), ``lsp-plugins-lv2`` (the integration tests) and ``lilv-utils`` (``lv2apply``,
the reference host).
"""

from __future__ import annotations

import ctypes.util
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aers_host import builtin_names
from aers_host.lv2._adopt import adopt_bundle, plan_adoption
from aers_host.lv2._lilv import describe_bundle
from aers_host.plugins import Keyring, PluginStore, VerifiedPlugin
from aers_host.plugins._keys import generate_key, public_key_pem

HERE = Path(__file__).parent
GAINDELAY_URI = "urn:aers:test:gaindelay"
#: The test plugin's fixed delay (and reported latency), in samples.
GAINDELAY_DELAY = 32
LSP_BUNDLE = Path("/usr/lib/lv2/lsp-plugins.lv2")
LSP = "http://lsp-plug.in/plugins/lv2/"

needs_lilv = pytest.mark.skipif(
    ctypes.util.find_library("lilv-0") is None,
    reason="needs liblilv-0 (apt-get install liblilv-0-0; scripts/test.sh does as root)",
)
needs_build = pytest.mark.skipif(
    not Path("/usr/include/lv2/core/lv2.h").exists() or shutil.which("gcc") is None,
    reason="needs LV2 headers and gcc (apt-get install lv2-dev gcc)",
)
needs_lsp = pytest.mark.skipif(
    not LSP_BUNDLE.is_dir(), reason="needs lsp-plugins-lv2 (apt-get install lsp-plugins-lv2)"
)
needs_lv2apply = pytest.mark.skipif(
    shutil.which("lv2apply") is None, reason="needs lv2apply (apt-get install lilv-utils)"
)


@pytest.fixture(scope="session")
def gaindelay_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test plugin's bundle, compiled here against Debian's LV2 headers."""
    if ctypes.util.find_library("lilv-0") is None or shutil.which("gcc") is None:
        pytest.skip("needs liblilv-0 and gcc")
    if not Path("/usr/include/lv2/core/lv2.h").exists():
        pytest.skip("needs LV2 headers (apt-get install lv2-dev)")
    bundle = tmp_path_factory.mktemp("lv2") / "gaindelay.lv2"
    bundle.mkdir()
    source = HERE / "gaindelay.lv2"
    for ttl in source.glob("*.ttl"):
        shutil.copy(ttl, bundle / ttl.name)
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(bundle / "gaindelay.so"),
         str(source / "gaindelay.c"), "-lm"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return bundle


class Signer:
    """One ephemeral Ed25519 key trusted for ``native``, and a store that trusts it."""

    def __init__(self) -> None:
        self.key = generate_key()
        self.keyring = Keyring().with_key(public_key_pem(self.key.public_key()), "native", "t")

    def adopt(self, bundle: Path, uri: str, name: str, out: Path) -> Path:
        """``aers plugin adopt`` through the library: a signed plugin folder."""
        plan = plan_adoption(describe_bundle(bundle, uri), name)
        return adopt_bundle(plan, out, self.key, reserved=builtin_names())

    def store(self, root: Path) -> PluginStore:
        return PluginStore(
            root, keyring=self.keyring, now=datetime.now(UTC), reserved=builtin_names()
        )

    def verified(self, folder: Path) -> VerifiedPlugin:
        return self.store(folder.parent / "unused-store").verify_dir(folder)


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="session")
def gaindelay(
    gaindelay_bundle: Path, signer: Signer, tmp_path_factory: pytest.TempPathFactory
) -> VerifiedPlugin:
    """The test plugin adopted, signed and verified (node type ``gaindelay``)."""
    out = tmp_path_factory.mktemp("adopted") / "gaindelay"
    return signer.verified(signer.adopt(gaindelay_bundle, GAINDELAY_URI, "gaindelay", out))
