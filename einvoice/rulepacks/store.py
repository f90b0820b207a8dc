"""Installed rule packs: install from an official release (zip or directory), list, verify, load.

Layout of the rule-pack directory (setting ``EINVOICE_RULEPACK_DIR``, default ``var/rulepacks``)::

    index.json                 packs, their validity windows, the SHA-256 of each manifest
    <pack-id>/                 the release's files exactly as published
    <pack-id>/MANIFEST.einvoice.json   SHA-256 of every file of the pack (written at install)

A pack is used only if every file still has the SHA-256 recorded at install, no file is missing
and none was added; anything else refuses the pack at load time (``PackIntegrityError``), and the
validation engine then reports "not validated" instead of falling back to other rules.

Several packs may be installed at once (e.g. XRechnung 3.0 and 4.0 during a transition). Each has
a validity window by receipt date (``valid_from`` inclusive, ``valid_until`` inclusive, either
open); the receipt date and the document's identifier choose the pack (see ``select``).

This module must never change a file inside an installed pack, never install a pack whose
``scenarios.xml`` names a resource that is missing, and never extract a zip member outside the
target directory.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from einvoice.rulepacks.pack import PackDefinition, PackError, read_definition

MANIFEST = "MANIFEST.einvoice.json"
INDEX = "index.json"
DEFAULT_DIR = "var/rulepacks"
#: a release zip is about 5 MB; refuse archives that unpack to absurd sizes (zip bombs)
MAX_UNPACKED_BYTES = 500 * 1024 * 1024
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


class PackIntegrityError(PackError):
    """An installed pack's files differ from its manifest (changed, missing or added files)."""


def rulepack_dir(env: dict | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("EINVOICE_RULEPACK_DIR") or DEFAULT_DIR)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(directory: Path) -> dict[str, Path]:
    out = {}
    for p in sorted(directory.rglob("*")):
        if p.is_symlink():
            raise PackError(f"{p}: symbolic links are not allowed in a rule pack")
        if p.is_file():
            rel = p.relative_to(directory).as_posix()
            if rel != MANIFEST:
                out[rel] = p
    return out


def manifest_of(directory: Path) -> dict[str, str]:
    return {rel: sha256_file(p) for rel, p in _files(directory).items()}


@dataclass(frozen=True)
class InstalledPack:
    id: str
    directory: Path
    name: str  # scenarios.xml <name>
    date: str  # scenarios.xml <date>
    valid_from: dt.date | None
    valid_until: dt.date | None
    manifest_sha256: str
    installed_at: str
    source: str
    identifiers: tuple[str, ...]
    scenarios: tuple[str, ...]

    @property
    def family(self) -> str:
        """The pack's name without its trailing version ("Validator Configuration XRechnung")."""
        return re.sub(r"\s+v?\d+(\.\d+)*\s*$", "", self.name) or self.name

    @property
    def version(self) -> str:
        m = re.search(r"v?(\d+(?:\.\d+)*)\s*$", self.name)
        return (m.group(1) if m else "?") + (f" ({self.date})" if self.date else "")

    def active_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_until is None or day <= self.valid_until)

    def window(self) -> str:
        a = self.valid_from.isoformat() if self.valid_from else "open"
        b = self.valid_until.isoformat() if self.valid_until else "open"
        return f"{a} .. {b}"

    def describe(self) -> str:
        # the manifest digest pins the exact files that judged (archived with each report)
        return f"{self.id} ({self.name}, {self.date}; manifest sha256:{self.manifest_sha256[:16]})"


# ------------------------------------------------------------------------------------------------
# index
# ------------------------------------------------------------------------------------------------
def _read_index(root: Path) -> dict:
    p = root / INDEX
    if not p.is_file():
        return {"packs": {}}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackError(f"{p}: the rule-pack index cannot be read: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("packs"), dict):
        raise PackError(f"{p}: not a rule-pack index")
    return data


def _write_index(root: Path, data: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".index-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, root / INDEX)


def _date(v) -> dt.date | None:
    return dt.date.fromisoformat(v) if v else None


def installed(root: Path | None = None) -> list[InstalledPack]:
    """The packs in the index (not yet verified), oldest ``valid_from`` first."""
    root = rulepack_dir() if root is None else root
    out = []
    for pid, e in _read_index(root).get("packs", {}).items():
        out.append(
            InstalledPack(
                id=pid,
                directory=root / pid,
                name=e.get("name", ""),
                date=e.get("date", ""),
                valid_from=_date(e.get("valid_from")),
                valid_until=_date(e.get("valid_until")),
                manifest_sha256=e["manifest_sha256"],
                installed_at=e.get("installed_at", ""),
                source=e.get("source", ""),
                identifiers=tuple(e.get("identifiers", ())),
                scenarios=tuple(e.get("scenarios", ())),
            )
        )
    return sorted(out, key=lambda p: (p.valid_from or dt.date.min, p.id))


# ------------------------------------------------------------------------------------------------
# install
# ------------------------------------------------------------------------------------------------
def _unzip(src: Path, target: Path) -> None:
    total = 0
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or re.match(r"^[A-Za-z]:", name):
                raise PackError(f"{src}: member {name!r} would be written outside the pack directory")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise PackError(f"{src}: member {name!r} is a symbolic link")
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise PackError(f"{src}: unpacks to more than {MAX_UNPACKED_BYTES:,} bytes")
        zf.extractall(target)


def _pack_root(tree: Path) -> Path:
    """The directory holding scenarios.xml: the top, or the single folder of a release zip."""
    if (tree / "scenarios.xml").is_file():
        return tree
    subs = [p for p in tree.iterdir() if p.is_dir()]
    if len(subs) == 1 and (subs[0] / "scenarios.xml").is_file():
        return subs[0]
    raise PackError("no scenarios.xml at the top of the release (is this a KoSIT validator configuration?)")


def install(
    src: Path,
    *,
    root: Path | None = None,
    pack_id: str | None = None,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
    replace: bool = False,
) -> InstalledPack:
    """Install an official release (zip or directory) as pack ``pack_id`` (default: its name)."""
    root = rulepack_dir() if root is None else root
    src = Path(src)
    if not src.exists():
        raise PackError(f"{src}: no such file or directory")
    if valid_from and valid_until and valid_until < valid_from:
        raise PackError(f"validity window ends ({valid_until}) before it starts ({valid_from})")
    pid = pack_id or (src.stem if src.is_file() else src.name)
    if not _ID.match(pid):
        raise PackError(f"pack id {pid!r}: use letters, digits, '.', '_' and '-' only")
    index = _read_index(root)
    if pid in index["packs"] and not replace:
        raise PackError(f"a pack {pid!r} is already installed (remove it first, or install with --replace)")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".install-") as tmp:
        staging = Path(tmp) / "src"
        if src.is_file():
            if not zipfile.is_zipfile(src):
                raise PackError(f"{src}: neither a directory nor a zip file")
            staging.mkdir()
            _unzip(src, staging)
            base = _pack_root(staging)
        else:
            base = _pack_root(src)
        target = Path(tmp) / "pack"
        shutil.copytree(base, target, symlinks=True)
        for p in target.rglob("*"):
            if p.is_symlink():
                raise PackError(f"{p.relative_to(target)}: symbolic links are not allowed in a rule pack")
        defn = read_definition(target)
        missing = sorted(r for r in defn.resources() if not (target / r).is_file())
        if missing:
            raise PackError(f"scenarios.xml names resources that the release lacks: {', '.join(missing)}")
        files = manifest_of(target)
        manifest = {"pack": pid, "files": files}
        mtext = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
        (target / MANIFEST).write_bytes(mtext)
        for p in target.rglob("*"):  # installed packs are read-only data
            if p.is_file():
                p.chmod(0o444)
        final = root / pid
        if final.exists():
            shutil.rmtree(final)
        os.replace(target, final)
    index["packs"][pid] = {
        "name": defn.name,
        "date": defn.date,
        "valid_from": valid_from.isoformat() if valid_from else None,
        "valid_until": valid_until.isoformat() if valid_until else None,
        "manifest_sha256": hashlib.sha256(mtext).hexdigest(),
        "installed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": str(src.resolve()),
        "identifiers": defn.identifiers,
        "scenarios": [s.name for s in defn.scenarios],
    }
    _write_index(root, index)
    _invalidate()
    return next(p for p in installed(root) if p.id == pid)


def set_window(pack_id: str, valid_from: dt.date | None, valid_until: dt.date | None, *, root: Path | None = None) -> InstalledPack:
    root = rulepack_dir() if root is None else root
    if valid_from and valid_until and valid_until < valid_from:
        raise PackError(f"validity window ends ({valid_until}) before it starts ({valid_from})")
    index = _read_index(root)
    if pack_id not in index["packs"]:
        raise PackError(f"no pack {pack_id!r} installed in {root}")
    index["packs"][pack_id]["valid_from"] = valid_from.isoformat() if valid_from else None
    index["packs"][pack_id]["valid_until"] = valid_until.isoformat() if valid_until else None
    _write_index(root, index)
    _invalidate()
    return next(p for p in installed(root) if p.id == pack_id)


def remove(pack_id: str, *, root: Path | None = None) -> None:
    root = rulepack_dir() if root is None else root
    index = _read_index(root)
    if pack_id not in index["packs"]:
        raise PackError(f"no pack {pack_id!r} installed in {root}")
    del index["packs"][pack_id]
    _write_index(root, index)
    shutil.rmtree(root / pack_id, ignore_errors=True)
    _invalidate()


# ------------------------------------------------------------------------------------------------
# verify + load
# ------------------------------------------------------------------------------------------------
def verify(pack: InstalledPack) -> None:
    """Raise ``PackIntegrityError`` unless every file matches the manifest recorded at install."""
    mpath = pack.directory / MANIFEST
    try:
        mtext = mpath.read_bytes()
    except OSError as exc:
        raise PackIntegrityError(f"rule pack {pack.id}: manifest missing ({exc})") from exc
    if hashlib.sha256(mtext).hexdigest() != pack.manifest_sha256:
        raise PackIntegrityError(f"rule pack {pack.id}: the manifest was changed after installation")
    want = json.loads(mtext)["files"]
    have = manifest_of(pack.directory)
    changed = sorted(k for k in want if k in have and have[k] != want[k])
    missing = sorted(k for k in want if k not in have)
    added = sorted(k for k in have if k not in want)
    if changed or missing or added:
        parts = []
        if changed:
            parts.append("changed: " + ", ".join(changed))
        if missing:
            parts.append("missing: " + ", ".join(missing))
        if added:
            parts.append("added: " + ", ".join(added))
        raise PackIntegrityError(
            f"rule pack {pack.id} differs from what was installed ({'; '.join(parts)}); it is not used. "
            "Reinstall the official release (einvoice rules install --replace)."
        )


_cache_lock = threading.Lock()
_loaded: dict[tuple[str, str], PackDefinition] = {}
_index_cache: dict[str, tuple[float, list[InstalledPack]]] = {}


def _invalidate() -> None:
    with _cache_lock:
        _index_cache.clear()


def _path_key(path: Path) -> str:
    # resolving costs a system call per path component, on every validation: only a relative
    # path needs it (it depends on the working directory)
    return str(path) if path.is_absolute() else str(path.resolve())


def load(pack: InstalledPack) -> PackDefinition:
    """Verify (once per process and manifest) and read the pack's scenario definition."""
    key = (_path_key(pack.directory), pack.manifest_sha256)
    d = _loaded.get(key)
    if d is None:
        with _cache_lock:
            d = _loaded.get(key)
            if d is None:
                verify(pack)
                d = read_definition(pack.directory)
                _loaded[key] = d
    return d


def cached_installed(root: Path | None = None) -> list[InstalledPack]:
    """``installed()`` re-read only when index.json changed (one stat per call)."""
    root = rulepack_dir() if root is None else root
    p = root / INDEX
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        return []
    key = _path_key(root)
    hit = _index_cache.get(key)
    if hit and hit[0] == mtime:
        return hit[1]
    packs = installed(root)
    with _cache_lock:
        _index_cache[key] = (mtime, packs)
    return packs
