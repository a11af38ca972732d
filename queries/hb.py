"""Happens-before checks declared by the scenario: orderings and locksets.

Orderings (meta.json `orderings`: {name, before, after}): "every event at an `after` site happens
after some event at a `before` site". `before` and `after` are site selectors:

    nfs_writepages          a function: every event of an instruction in it
    nfs_writepages.wait     a local label (function.label) or a global label: the instruction at it
    flusher.s:42            file:line (file as in sites.parquet, or its last path components)

A list of selectors means any of them. An ordering is violated by each `after` event that no
`before` event happens before (queries/sql/hb_orderings.sql); an `after` site that never ran
cannot violate it, a `before` site that never ran makes every `after` event a violation.

Locksets (meta.json `locksets`: {name, fields, lock}): `fields` is a glob over word names
(`req*.wb_flags`, `counter`; a list means any of them); `lock` names the lock word, and may say
`{object}` for the accessed word's object (`{object}.lock` guards req3.wb_flags with req3.lock).
A violation is a plain (non-atomic) access to a matching word by a thread that does not hold its
lock at that moment (queries/sql/lockset.sql).
"""

from __future__ import annotations

import fnmatch
import re

from .errors import QueryError
from .targets import suggestion

_FILE_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+)$")


def resolve_selector(run, text: str, where: str) -> list[int]:
    """A site selector -> the site ids it names (an error, with suggestions, when none)."""
    sel = text.strip()
    sites = run.names.sites
    m = _FILE_LINE.match(sel)
    if m:
        f, line = m.group("file"), int(m.group("line"))
        hits = [s.site for s in sites.values() if s.line == line and _same_file(s.file, f)]
        if not hits:
            files = {s.file for s in sites.values()}
            if not any(_same_file(x, f) for x in files):
                raise QueryError(suggestion(f, files, "file"), where)
            raise QueryError(f"no instruction at {sel}", where)
        return sorted(hits)
    by_function = [s.site for s in sites.values() if s.function == sel]
    if by_function:
        return sorted(by_function)
    by_label = [s.site for s in sites.values() if s.label == sel]
    if by_label:
        return sorted(by_label)
    known = {s.function for s in sites.values()} | {s.label for s in sites.values() if s.label}
    raise QueryError(suggestion(sel, known, "function or label"), where)


def _same_file(recorded: str, given: str) -> bool:
    if recorded == given:
        return True
    r, g = recorded.replace("\\", "/").split("/"), given.replace("\\", "/").split("/")
    return len(g) <= len(r) and r[-len(g):] == g


def _selectors(value, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise QueryError(f"expected a site selector (or a list of them), not {value!r}", where)


def check(run) -> dict:
    return {"orderings": [check_ordering(run, o, k) for k, o in enumerate(_declared(run, "orderings"))],
            "locksets": [check_lockset(run, o, k) for k, o in enumerate(_declared(run, "locksets"))]}


def _declared(run, key: str) -> list[dict]:
    raw = run.meta.get(key) or []
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise QueryError(f"meta.json '{key}' is not a list of tables", run.dir.location)
    return raw


def _site(run, site: int) -> dict:
    s = run.names.sites.get(site)
    return {**run.names.where(site), "label": (s.label or None) if s else None}


def _event(run, r: dict) -> dict:
    return run.names.event({k: v for k, v in r.items() if k != "site"})


def check_ordering(run, decl: dict, k: int) -> dict:
    name = str(decl.get("name") or f"ordering{k}")
    where = f"ordering '{name}'"
    if "before" not in decl or "after" not in decl:
        raise QueryError("needs both `before` and `after`", where)
    before_sel = _selectors(decl["before"], where)
    after_sel = _selectors(decl["after"], where)
    before = sorted({s for sel in before_sel for s in resolve_selector(run, sel, where)})
    after = sorted({s for sel in after_sel for s in resolve_selector(run, sel, where)})
    rows = run.rows("hb_orderings", {"before_sites": before, "after_sites": after})
    counts = {r["site"]: r for r in run.rows("site_counts", {"sites": sorted(set(before) | set(after))})}
    groups: dict[int, dict] = {}
    for r in rows:
        g = groups.get(r["site"])
        if g is None:
            groups[r["site"]] = {"site": _site(run, r["site"]), "count": 1, "first": _event(run, r)}
        else:
            g["count"] += 1
    before_sites = [dict(_site(run, s), events=int(counts[s]["events"]) if s in counts else 0)
                    for s in before]
    checked = sum(int(counts[s]["events"]) for s in after if s in counts)
    return {"ordering": name, "before": decl["before"], "after": decl["after"],
            "holds": not rows, "checked": checked, "violations": list(groups.values()),
            "before_sites": before_sites}


def check_lockset(run, decl: dict, k: int) -> dict:
    name = str(decl.get("name") or f"lockset{k}")
    where = f"lockset '{name}'"
    if "fields" not in decl or "lock" not in decl:
        raise QueryError("needs both `fields` and `lock`", where)
    patterns = _selectors(decl["fields"], where)
    lock = str(decl["lock"])
    names = run.names
    words = names.words  # addr -> name
    # C stack words are thread-private: a lockset never covers them (queries/stack_names.py)
    fields = sorted({a for a, w in words.items() if any(fnmatch.fnmatchcase(w, p) for p in patterns)
                     and not names.is_stack(a)})
    if not fields:
        raise QueryError(f"fields {', '.join(patterns)}: " + suggestion(patterns[0], words.values(), "symbol"),
                         where)
    field_addrs, lock_addrs = [], []
    for addr in fields:
        obj = names.word_object.get(addr, "")
        lock_name = lock.replace("{object}", obj).replace("{}", obj)
        entry = names.symbols.get(lock_name)
        if entry is None:
            raise QueryError(f"lock for {words[addr]}: " + suggestion(lock_name, names.symbols, "symbol"),
                             where)
        field_addrs.append(addr)
        lock_addrs.append(entry[0])
    params = {"field_addrs": field_addrs, "lock_addrs": lock_addrs}
    rows = run.rows("lockset", params)
    checked = int(run.rows("lockset_checked", {"field_addrs": field_addrs})[0]["accesses"])
    groups: dict[int, dict] = {}
    for r in rows:
        g = groups.get(r["site"])
        if g is None:
            groups[r["site"]] = {"site": _site(run, r["site"]), "count": 1, "addrs": {r["addr"]},
                                 "symbol": names.word(r["addr"]), "addr": r["addr"],
                                 "lock": names.word(r["lock_addr"]), "first": _event(run, r)}
        else:
            g["count"] += 1
            g["addrs"].add(r["addr"])
    violations = []
    for g in groups.values():
        g["addresses"] = len(g.pop("addrs"))
        violations.append(g)
    return {"lockset": name, "fields": decl["fields"], "lock": lock, "holds": not rows,
            "checked": checked, "violations": violations}
