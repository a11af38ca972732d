"""Files: sources, includes, substitutions (a variant's replacement files) and display paths."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import AsmError
from ..lexer import LineError


def split_lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def _norm(name: str | Path) -> str:
    return posixpath.normpath(str(name).replace("\\", "/"))


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError):
        return path.absolute()


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Files: sources, includes, substitutions and display paths


@dataclass(frozen=True, slots=True)
class _Source:
    display: str  # the path shown in Sites and errors
    key: str  # identity for include-once and cycle detection (the resolved path)
    folders: tuple[Path, ...]  # where this file's own .include names are looked up first
    text: str


class _Files:
    """Opens source and include files; remembers the text of every file read."""

    def __init__(self, base_dir: Path | None, substitutions: Mapping[str, Path] | None,
                 lib_dirs: Iterable[Path]):
        self.base_root = _resolved(Path(base_dir)) if base_dir is not None else None
        self.lib_dirs = [Path(d) for d in lib_dirs]
        self.substitutions = {_norm(k): Path(v) for k, v in (substitutions or {}).items()}
        self.sources: dict[str, str] = {}

    def display(self, path: Path) -> str:
        """`path` relative to base_dir: below it, or with '..' when the two share a folder other
        than the root (a library next to the scenarios), so that names do not depend on where
        the project is checked out; else the path as given."""
        if self.base_root is None:
            return str(path)
        real = _resolved(path)
        try:
            return real.relative_to(self.base_root).as_posix()
        except ValueError:
            pass
        try:
            common = Path(os.path.commonpath([real, self.base_root]))
            if common != Path(common.anchor):
                return Path(os.path.relpath(real, self.base_root)).as_posix()
        except ValueError:  # different drives
            pass
        return str(path)

    def text(self, name: str, text: str) -> _Source:
        """An in-memory source (assemble_text): its includes are looked up from the cwd."""
        self.sources[name] = text
        return _Source(name, f"<text>{name}", (Path("."),), text)

    def source(self, path: Path) -> _Source:
        """A machine's source file, as listed by the scenario."""
        try:
            return self._load(path, str(path))
        except LineError as e:
            raise AsmError(e.message, self.display(path)) from None

    def include(self, name: str, folders: Sequence[Path], col: int) -> _Source:
        """The file named by `.include "name"` in a file that lives in `folders`."""
        dirs = list(dict.fromkeys([*folders, *self.lib_dirs]))
        found = next((d / name for d in dirs if _is_file(d / name)), None)
        if found is None and _norm(name) not in self.substitutions:
            looked = ", ".join(f"'{self.display(d)}'" for d in dirs)
            raise LineError(f"cannot find include file '{name}' (looked in {looked})", col)
        try:
            return self._load(found if found is not None else Path(name), name)
        except LineError as e:
            raise LineError(e.message, col) from None

    def _load(self, path: Path, written: str) -> _Source:
        display = self.display(path)
        # A variant replaces a file by the name it was written with, or its path under base_dir;
        # Sites then show the replacement's own path, so users see where the variant's code is.
        replacement = self.substitutions.get(_norm(written)) or self.substitutions.get(_norm(display))
        note = ""
        folders = (path.parent,)
        if replacement is not None:
            # The variant's includes resolve next to it first, then as the original's would.
            note = f" (substituted for '{display}')"
            folders = (replacement.parent, path.parent)
            path, display = replacement, self.display(replacement)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise LineError(f"cannot read '{display}'{note}: not UTF-8 text (byte {e.start})") from None
        except (OSError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise LineError(f"cannot read '{display}'{note}: {reason}") from None
        self.sources[display] = text
        return _Source(display, str(_resolved(path)), folders, text)
