"""Find each COCO image on disk and check it: resolution of file_name, size, integrity, content hash."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from odpipe.common.jsonfile import write_compact_json
from odpipe.prepare.jpeg_header import jpeg_size


class PathEscapes(ValueError):
    pass


@dataclass(frozen=True)
class Resolved:
    relpath: str | None  # relative to the images root, POSIX; None when not found
    how: str  # "relative", "basename", "foreign-basename", "missing", "ambiguous"


class ImageIndex:
    """Every file under the images root, by relative path and by basename (walked once)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.by_rel: set[str] = set()
        self.by_base: dict[str, list[str]] = defaultdict(list)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = os.path.relpath(dirpath, root)
            for name in filenames:
                if name.startswith("."):
                    continue
                rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                self.by_rel.add(rel)
                self.by_base[name].append(rel)

    def resolve(self, file_name: str) -> Resolved:
        """Relative path first, then basename. Absolute paths from elsewhere resolve by basename;
        a path with '..' that would leave the root raises PathEscapes."""
        if "/" not in file_name and "\\" not in file_name and file_name[1:2] != ":" and file_name in self.by_rel:
            return Resolved(file_name, "relative")  # the common case, decided as below would decide it
        norm = file_name.replace("\\", "/")
        foreign = norm.startswith("/") or (len(norm) > 1 and norm[1] == ":")
        if not foreign:
            parts: list[str] = []
            for part in PurePosixPath(norm).parts:
                if part in ("", "."):
                    continue
                if part == "..":
                    if not parts:
                        raise PathEscapes(file_name)
                    parts.pop()
                else:
                    parts.append(part)
            rel = "/".join(parts)
            if rel in self.by_rel:
                return Resolved(rel, "relative")
        base = PurePosixPath(norm).name
        hits = self.by_base.get(base, [])
        if len(hits) == 1:
            return Resolved(hits[0], "foreign-basename" if foreign else "basename")
        if len(hits) > 1:
            return Resolved(None, "ambiguous")
        return Resolved(None, "missing")


@dataclass(frozen=True)
class ImageCheck:
    relpath: str
    ok: bool
    width: int = 0
    height: int = 0
    sha256: str = ""
    size: int = 0
    problem: str = ""
    mtime_ns: int = 0  # when the bytes hashed were read (the hash cache's stamp)


_TAILS = {"JPEG": (b"\xff\xd9",), "PNG": (b"IEND\xaeB`\x82",)}


_BUFFER_REPR = re.compile(r" ?<_io\.BytesIO object at 0x[0-9a-f]+>")


def inspect_image(root: Path, relpath: str, *, full_decode: bool = False) -> ImageCheck:
    """Read the file once: hash its bytes, read its real size from the header, and catch truncation
    (JPEG without its end marker, PNG without IEND) without a full decode unless asked."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open(os.path.join(root, relpath), "rb") as fh:
            mtime_ns = os.fstat(fh.fileno()).st_mtime_ns
            data = fh.read()
    except OSError as exc:
        return ImageCheck(relpath, False, problem=f"cannot read: {exc.strerror}")
    digest = hashlib.sha256(data).hexdigest()
    fast = None if full_decode else jpeg_size(data)
    if fast is not None:
        return _with_tail(relpath, data, "JPEG", fast, digest, mtime_ns)
    try:
        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            fmt = img.format or ""
            if full_decode:
                img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return ImageCheck(relpath, False, sha256=digest, size=len(data), problem=f"not a readable image: {_said(exc)}")
    except ImportError as exc:
        # Once Ultralytics is imported, Image.open retries unidentified files with an optional HEIF
        # plugin and raises ImportError when that is absent; the file is still simply unreadable.
        if not isinstance(exc.__context__, UnidentifiedImageError):
            raise
        return ImageCheck(
            relpath, False, sha256=digest, size=len(data), problem=f"not a readable image: {_said(exc.__context__)}"
        )
    return _with_tail(relpath, data, fmt, size, digest, mtime_ns)


def _said(exc: BaseException) -> str:
    """PIL's message without the in-memory buffer's repr it names (an address that differs every run)."""
    return _BUFFER_REPR.sub("", str(exc)).rstrip()


def _with_tail(relpath: str, data: bytes, fmt: str, size: tuple[int, int], digest: str, mtime_ns: int) -> ImageCheck:
    """The check of a file whose header was read: truncated when its format's end marker is missing."""
    width, height = size
    tails = _TAILS.get(fmt)
    if tails and not any(data.rstrip(b"\x00\r\n ").endswith(t) for t in tails):
        return ImageCheck(relpath, False, width, height, digest, len(data), problem=f"truncated {fmt} (no end marker)")
    return ImageCheck(relpath, True, width, height, digest, len(data), mtime_ns=mtime_ns)


def inspect_many(jobs: Sequence[tuple[str, str, bool]]) -> list[ImageCheck]:
    """inspect_image over (root, relpath, full_decode) jobs: one chunk of work for a worker process."""
    roots = {root: Path(root) for root, _, _ in jobs}  # one path object per root, not per file
    return [inspect_image(roots[root], relpath, full_decode=full) for root, relpath, full in jobs]


class HashCache:
    """sha256 and size of image files keyed by (relpath, size, mtime_ns), so a rerun reads headers only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[object]] = {}
        if path.exists():
            try:
                self.entries = json.loads(path.read_text())
            except (OSError, ValueError):
                self.entries = {}
        self.dirty = False

    @staticmethod
    def _stamp(path: Path) -> tuple[int, int]:
        st = path.stat()
        return st.st_size, st.st_mtime_ns

    def get(self, root: Path, relpath: str) -> ImageCheck | None:
        entry = self.entries.get(relpath)
        if entry is None:
            return None
        try:
            size, mtime = self._stamp(root / relpath)
        except OSError:
            return None
        if entry[0] != size or entry[1] != mtime:
            return None
        return ImageCheck(relpath, True, int(entry[2]), int(entry[3]), str(entry[4]), size)  # type: ignore[call-overload]

    def put(self, root: Path, check: ImageCheck) -> None:
        if not check.ok:
            return
        size, mtime = (check.size, check.mtime_ns) if check.mtime_ns else self._stamp(root / check.relpath)
        self.entries[check.relpath] = [size, mtime, check.width, check.height, check.sha256]
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        write_compact_json(self.path, self.entries)
