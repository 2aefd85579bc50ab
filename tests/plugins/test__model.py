"""The typed manifest: lossless round trips, signatures over the typed form, path-named refusals."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from plugin_fakes import NOW, Publisher

from aers_host.errors import ManifestError
from aers_host.plugins import Manifest, PluginVerifier, SignedPart, canonical_bytes
from aers_host.plugins._manifest import parse_manifest
from aers_host.plugins._model import FileRecord, ManifestParam

#: Every optional field a 1.x param may carry, with JSON ints where authors write them.
RICH_PARAMS = [
    {"name": "mode", "default": 0, "min": 0, "max": 2, "integer": True,
     "enum": [{"value": 0, "label": "peak"}, {"value": 1, "label": "low shelf"},
              {"value": 2, "label": "high shelf"}]},
    {"name": "on", "default": 1, "min": 0, "max": 1, "toggle": True, "doc": "bypass switch"},
    {"name": "gain_db", "default": -0.1, "min": -60.5, "max": 12, "unit": "dB"},
]  # fmt: skip


def _rich(publisher: Publisher) -> dict[str, Any]:
    return publisher.signed(params=RICH_PARAMS, description="réglage fin — 1/3 octave")


def test_a_rich_signed_part_round_trips_exactly(publisher: Publisher) -> None:
    signed = _rich(publisher)
    typed = SignedPart.from_dict(signed)
    assert typed.to_dict() == signed
    assert canonical_bytes(typed.to_dict()) == canonical_bytes(signed)
    assert "lv2" not in typed.to_dict() and "unit" not in typed.to_dict()["params"][0]
    mode = typed.params[0]
    assert (mode.integer, mode.toggle, mode.unit) == (True, None, None)
    assert [choice.label for choice in mode.enum or ()] == ["peak", "low shelf", "high shelf"]
    assert isinstance(typed.to_dict()["params"][0]["default"], int)  # 0 stays 0, not 0.0


def test_a_manifest_signed_over_the_raw_document_verifies_through_the_model(
    publisher: Publisher,
) -> None:
    """The publisher signs the plain dict (as every earlier host did); the verifier reads the
    typed model, so its canonical bytes must be the very bytes that were signed."""
    data = publisher.seal(_rich(publisher))
    plugin = PluginVerifier(publisher.keyring(), now=NOW).verify(data, publisher.files())
    assert plugin.manifest is not None
    assert plugin.manifest.description == "réglage fin — 1/3 octave"
    assert plugin.param_dicts == RICH_PARAMS and plugin.params[0].enum is not None


def test_unknown_fields_survive_the_round_trip_in_every_part(publisher: Publisher) -> None:
    document = json.loads(publisher.seal(_rich(publisher)))
    document["x_envelope"] = {"note": [1, 2]}
    document["signatures"][0]["x_sig"] = "later"
    signed = document["signed"]
    signed["x_signed"] = {"nested": True}
    signed["files"]["fx.py"]["x_file"] = 7
    signed["params"][0]["x_param"] = None
    signed["params"][0]["enum"][0]["x_choice"] = "c"
    original = copy.deepcopy(document)
    manifest = Manifest.from_dict(document)
    assert manifest.to_dict() == original
    assert manifest.unrecognized_fields == {"x_envelope": {"note": [1, 2]}}
    assert manifest.signed.unrecognized_fields == {"x_signed": {"nested": True}}
    assert manifest.files["fx.py"].unrecognized_fields == {"x_file": 7}
    assert manifest.signatures[0].unrecognized_fields == {"x_sig": "later"}
    assert manifest.canonical() == canonical_bytes(original["signed"])


@pytest.mark.security
@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda d: d["signed"], "signed"),
        (lambda d: d["signed"]["files"]["fx.py"], "signed.files.fx.py"),
        (lambda d: d["signed"]["params"][0], "signed.params.0"),
        (lambda d: d["signatures"][0], "signatures.0"),
        (lambda d: d, "<root>"),
    ],
    ids=["signed", "file", "param", "signature", "envelope"],
)
def test_a_signed_manifest_with_an_unknown_field_is_refused_naming_it(
    where: Any, path: str, publisher: Publisher
) -> None:
    """The model keeps unknown fields; spec 1.x verification refuses them (docs/plugins.md)."""
    document = json.loads(publisher.publish()[0])
    where(document)["x_future"] = 1
    with pytest.raises(ManifestError) as caught:
        parse_manifest(json.dumps(document).encode())
    assert f"manifest.json: {path}: " in str(caught.value)
    assert "'x_future' was unexpected" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["files"]["fx.py"].pop("size"), "signed.files.fx.py.size: required field missing"),
        (lambda s: s["files"]["fx.py"].update(size="12"), "signed.files.fx.py.size: must be an integer"),
        (lambda s: s["params"][0].update(min=True), "signed.params.0.min: must be a number"),
        (lambda s: s.update(kind="wasm"), "signed.kind: must be one of python, native, lv2"),
        (lambda s: s.update(params={}), "signed.params: must be an array"),
        (lambda s: s.pop("expires"), "signed.expires: required field missing"),
        (lambda s: s["params"][0].update(unit=3), "signed.params.0.unit: must be a string, got int"),
    ],
    ids=["missing", "string-size", "bool-number", "kind", "params-object", "no-expires", "unit"],
)  # fmt: skip
def test_from_dict_refuses_a_malformed_part_naming_the_field_path(
    change: Any, message: str, publisher: Publisher
) -> None:
    signed = publisher.signed()
    change(signed)
    with pytest.raises(ManifestError, match=f"^manifest.json: {message}"):
        SignedPart.from_dict(signed)


def test_parts_are_immutable(publisher: Publisher) -> None:
    typed = SignedPart.from_dict(publisher.signed())
    with pytest.raises(AttributeError):
        typed.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        typed.files["evil.py"] = FileRecord("0" * 64, 1)  # type: ignore[index]
    assert isinstance(typed.params[0], ManifestParam)
