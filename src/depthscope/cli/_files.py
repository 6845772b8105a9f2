"""Reading the files a user names on the command line, bounded: architecture lists.

Every reader refuses, with one short :class:`~depthscope.DepthscopeError` line, a file larger
than :data:`MAX_TEXT_BYTES`, text that is not UTF-8 (a byte-order mark is allowed), and YAML
whose node count, aliases expanded, exceeds :data:`MAX_YAML_NODES` (an "alias bomb" expands a
few lines into billions of nodes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._architecture import short_repr
from .._errors import DepthscopeError
from .._optional import import_yaml
from ._common import one_line, short_path

__all__ = ["MAX_TEXT_BYTES", "MAX_YAML_NODES", "read_architectures", "read_data", "read_text"]

#: The largest text, JSON or YAML file read (bytes): 10 MiB.
MAX_TEXT_BYTES = 10 * 2**20
#: The most YAML nodes a file may expand to, aliases counted each time they are used.
MAX_YAML_NODES = 100_000
#: The deepest nesting accepted in a JSON or YAML architecture file.
_MAX_NESTING = 100


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """Return the UTF-8 text of a file of at most :data:`MAX_TEXT_BYTES` (a BOM is dropped).

    Raises
    ------
    DepthscopeError
        If the file cannot be read, is larger than the limit, or is not UTF-8 text.
    """
    name = short_path(os.fspath(path))
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT_BYTES + 1)
    except OSError as err:
        raise DepthscopeError(f"cannot read {what} {name}: {err.strerror or err}.") from None
    if len(data) > MAX_TEXT_BYTES:
        raise DepthscopeError(
            f"{what} {name} is larger than {MAX_TEXT_BYTES // 2**20} MiB; not read."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        byte = data[err.start : err.start + 1]
        raise DepthscopeError(
            f"{what} {name} is not UTF-8 text (byte {err.start} is {byte!r})."
        ) from None


def _count_nodes(node: Any, budget: int, depth: int = 0) -> int:
    """Nodes of a composed YAML graph with aliases expanded, or raise past ``budget``."""
    if depth > _MAX_NESTING:
        raise DepthscopeError(f"nesting deeper than {_MAX_NESTING} levels")
    budget -= 1
    if budget < 0:
        raise DepthscopeError(f"more than {MAX_YAML_NODES} nodes (aliases expanded)")
    children: list[Any] = []
    if isinstance(node.value, list):
        for item in node.value:
            children.extend(item if isinstance(item, tuple) else (item,))
    for child in children:
        budget = _count_nodes(child, budget, depth + 1)
    return budget


def _load_yaml(name: str, text: str) -> Any:
    yaml = import_yaml()
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as err:
        raise DepthscopeError(f"{name} is not valid YAML: {one_line(str(err), 160)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node, MAX_YAML_NODES)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise DepthscopeError(f"{name} is not valid YAML: {one_line(str(err), 160)}") from None
    except DepthscopeError as err:
        raise DepthscopeError(f"{name} is refused: {err}.") from None
    finally:
        loader.dispose()


def _load_json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise DepthscopeError(f"{name} is refused: nesting too deep.") from None
    except ValueError as err:
        raise DepthscopeError(f"{name} is not valid JSON: {err}.") from None


def read_data(path: str | os.PathLike[str], what: str) -> Any:
    """Return the data of a YAML (``.yaml``/``.yml``) or JSON file (any other suffix), bounded.

    Raises
    ------
    DepthscopeError
        Naming the file if it is unreadable, too large, not UTF-8, not valid YAML/JSON, nested
        too deep or (YAML) expands to more than :data:`MAX_YAML_NODES` nodes.
    """
    file = Path(path)
    name = short_path(file)
    text = read_text(file, what)
    if file.suffix.lower() in (".yaml", ".yml"):
        return _load_yaml(name, text)
    return _load_json(name, text)


def _item(name: str, item: Any) -> str:
    if isinstance(item, dict):
        item = item.get("architecture")
    if isinstance(item, list) and all(
        isinstance(w, (int, str)) and not isinstance(w, bool) for w in item
    ):
        item = ",".join(str(w) for w in item)
    if not isinstance(item, str):
        raise DepthscopeError(f"{name}: cannot read architecture item {short_repr(item)}.")
    return item


def read_architectures(path: str | os.PathLike[str]) -> list[str]:
    """Read architectures from a text, JSON or YAML file (chosen by the suffix).

    Text: one architecture per line (``#`` starts a comment). JSON / YAML: a list whose items
    are architecture strings, lists of integer widths, or objects with an ``architecture`` key
    (or an object whose ``architectures`` key holds such a list).

    Raises
    ------
    DepthscopeError
        Naming the file if it is missing, unreadable, too large (:func:`read_text`,
        :data:`MAX_YAML_NODES`) or not in one of these forms.
    """
    file = Path(path)
    name = short_path(file)
    text = read_text(file, "architecture file")
    suffix = file.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        data = _load_json(name, text) if suffix == ".json" else _load_yaml(name, text)
        if isinstance(data, dict) and "architectures" in data:
            data = data["architectures"]
        if not isinstance(data, list):
            raise DepthscopeError(f"{name} must hold a list of architectures.")
        return [_item(name, item) for item in data]
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line]
