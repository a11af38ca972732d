"""The C preprocessor step: pcpp (pure Python) with the bundled kernel headers on the include path.

`#include <linux/spinlock.h>` and friends resolve to `data/include/`, which declares the kernel API
(see kernel_api.py), so code pasted from the kernel keeps its includes. The output carries `#line`
directives that pycparser follows, so every AST coordinate names the file and line the user wrote.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from pcpp import Action, OutputDirective, Preprocessor

from .errors import CError

INCLUDE_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "include"
PREDEFINED = {"__REVTRACE__": "1", "__KERNEL__": "1"}


class _Pre(Preprocessor):
    def __init__(self, display: Callable[[str], str]):
        super().__init__()
        self.line_directive = "#line"
        self.display = display
        self.texts: dict[str, str] = {}  # display path -> text of every file opened
        self.paths: dict[str, str] = {}  # path as pcpp reports it -> display path

    def on_error(self, file, line, msg):
        raise CError(f"preprocessor: {msg}", self._name(file), line)

    def on_file_open(self, is_system_include, includepath):
        with open(includepath, encoding="utf-8") as f:  # probing: raises if absent
            text = f.read()
        name = self._name(includepath)
        self.texts[name] = text
        return io.StringIO(text)

    def on_include_not_found(self, is_malformed, is_system_include, curdir, includepath):
        d = self.lastdirective
        what = "malformed #include" if is_malformed else f"cannot find include file '{includepath}'"
        hint = ""
        if not is_malformed and includepath.startswith("linux/"):
            known = sorted(p.name for p in (INCLUDE_DIR / "linux").glob("*.h"))
            hint = f" (bundled linux/ headers: {', '.join(known)})"
        raise CError(what + hint, self._name(d.source), d.lineno)

    def on_directive_unknown(self, directive, toks, ifpassthru, precedingtoks):
        if directive.value == "error":
            text = "".join(t.value for t in toks).strip()
            raise CError(f"#error {text}", self._name(directive.source), directive.lineno)
        if directive.value in ("warning", "pragma"):
            raise OutputDirective(Action.IgnoreAndRemove)
        raise CError(f"unknown preprocessor directive #{directive.value}", self._name(directive.source),
                     directive.lineno)

    def on_comment(self, tok):
        return False

    def at_directive(self, message: str) -> CError:
        """A CError at the directive being processed (file:line:col of its name)."""
        d = getattr(self, "lastdirective", None)
        if d is None:
            return CError(f"preprocessor: {message}")
        name = self._name(d.source)
        text, col = self.texts.get(name), None
        if text is not None and isinstance(getattr(d, "lexpos", None), int) and 0 <= d.lexpos <= len(text):
            col = d.lexpos - text.rfind("\n", 0, d.lexpos)
        return CError(f"preprocessor: {message}", name, d.lineno, col)

    def _name(self, path) -> str:
        if path is None:
            return "<input>"
        path = str(path)
        if path not in self.paths:
            self.paths[path] = self.display(path)
        return self.paths[path]


def preprocess(text: str, display_name: str, folder: Path, display: Callable[[str], str],
               include_dirs: list[Path] = ()) -> tuple[str, dict[str, str], dict[str, int]]:
    """(preprocessed text with #line directives in display paths, {display path: text} read)."""
    pre = _Pre(display)
    pre.paths[display_name] = display_name
    pre.texts[display_name] = text
    for d in (folder, *include_dirs, INCLUDE_DIR):
        pre.add_path(str(d))
    for name, value in PREDEFINED.items():
        pre.define(f"{name} {value}")
    out = io.StringIO()
    try:
        pre.parse(text, display_name)
        pre.write(out)
    except CError:
        raise
    except RecursionError:  # pcpp includes recursively
        raise pre.at_directive("#include nested too deeply (does a file include itself?)") from None
    except (IndexError, KeyError, ValueError, TypeError, AttributeError):  # pcpp on a malformed directive
        d = pre.lastdirective
        raise pre.at_directive(f"malformed #{getattr(d, 'value', '')} directive") from None
    # pcpp writes the paths it opened; the AST should carry the display paths
    result = out.getvalue()
    lines = []
    for line in result.split("\n"):
        if line.startswith('#line ') and '"' in line:
            head, path, _ = line.split('"', 2)
            line = f'{head}"{pre._name(path)}"'
        lines.append(line)
    return "\n".join(lines), pre.texts, _macro_ints(pre)


def _macro_ints(pre) -> dict[str, int]:
    """Object-like macros whose value is one integer literal (maybe in parentheses): bit names."""
    out = {}
    for name, m in pre.macros.items():
        if m.arglist is not None:
            continue
        text = "".join(t.value for t in m.value).strip()
        while text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        try:
            out[name] = int(text.rstrip("uUlL"), 0)
        except ValueError:
            continue
    return out
