"""Where every benchmark writes its figures: ``benchmarks/results/<name>.json`` (README.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The folder of the latest JSON results (not committed).
RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, results: Mapping[str, Any], out: Path | None = None) -> Path:
    """Write ``results`` as JSON to ``out`` (default ``RESULTS/<name>.json``) and say where."""
    path = out if out is not None else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path
