"""The API reference lists every public name (docs/api.md's autosummary tables)."""

from __future__ import annotations
import __future__

import re
import types
from pathlib import Path

import depthscope as ds

API = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def _documented() -> set[str]:
    """Names in autosummary blocks while ``currentmodule`` is ``depthscope``."""
    names: set[str] = set()
    module = "depthscope"
    in_block = False
    for line in API.read_text().splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line.strip())
        if current:
            module = current.group(1)
        if line.strip().startswith(".. autosummary::"):
            in_block = True
            continue
        if in_block:
            if line.strip().startswith(":") or not line.strip():
                continue  # options and the blank line after them
            if not line.startswith("   "):
                in_block = False
                continue
            if module == "depthscope":
                names.add(line.strip())
    return names


def test_every_public_name_has_an_api_entry():
    public = {
        name
        for name in dir(ds)
        if not name.startswith("_")
        and not isinstance(getattr(ds, name), (types.ModuleType, __future__._Feature))
    }
    documented = _documented()
    assert public - documented == set(), "public names without an API entry"
    # the parser sees the tables (an empty parse would make the check above vacuous)
    assert {"predict", "simulate", "fixed_point_chi"} <= documented
