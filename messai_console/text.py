"""Making untrusted text (job names, data, errors from Redis) safe to print."""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b", "\x07": "\\x07", "\x08": "\\x08"}


def visible(text: object, max_chars: int | None = None) -> str:
    """``text`` with every control or format character (ESC, BEL, bidi overrides,
    zero-width marks...) shown as a visible escape, so it cannot drive the
    terminal. Cut to ``max_chars`` with an ellipsis when given."""
    value = str(text)
    if max_chars is not None and len(value) > max_chars:
        value = value[: max(max_chars - 1, 0)] + "…"
    if value.isprintable():
        return value
    out = []
    for ch in value:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in _NAMED:
            out.append(_NAMED[ch])
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(ch)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    return "".join(out)


def descendants_text(count: int) -> str:
    """The jobs removed with a job: "3 jobs it waited for that had not run"."""
    jobs = "job" if count == 1 else "jobs"
    return f"{count:,} {jobs} it waited for that had not run"
