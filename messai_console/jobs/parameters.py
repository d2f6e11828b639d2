"""What extract_parameters finds in an MES paper: the system parameters with
values and units (power density, current density, voltage, coulombic
efficiency, COD removal) and the electrode materials.

Values are kept as written and also converted to one canonical unit per
parameter (``value_si``/``unit_si``), so papers can be compared.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from messai_console.jobs.textmining import sentences

_NUM = r"(?P<num>[-\u2212]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-\u2212]?\d+(?:\.\d+)?)"
_DASH = r"[-\u2212\u2013]"
_AREA = rf"(?P<area>c?m)\s*(?:\^?2|²|{_DASH}\s?2)"
_VOLUME = rf"(?P<vol>m\s*(?:\^?3|³|{_DASH}\s?3)|L\b)"
_PER = r"\s*(?:/|·|\s)\s*"
_QUANTITY = re.compile(
    _NUM
    + r"\s*(?:"
    + rf"(?P<pw>[kmµu]?)W{_PER}(?:{_AREA}|{_VOLUME})"
    + rf"|(?P<cur>[mµu]?)A{_PER}{_AREA.replace('area', 'carea')}"
    + r"|(?P<volt>[mµ]?)V\b"
    + r"|(?P<pct>%)"
    + r")"
)
_PREFIX = {"": 1.0, "k": 1e3, "m": 1e-3, "µ": 1e-6, "u": 1e-6}
_VOLTAGE_WORDS = re.compile(r"voltage|potential|OCV|OCP|\bapplied\b|\bcell\b", re.IGNORECASE)
_PERCENT_KINDS = (
    ("coulombic_efficiency", re.compile(r"coulombic\s+efficienc\w*|\bCE\b", re.IGNORECASE)),
    ("cod_removal", re.compile(r"\bCOD\b", re.IGNORECASE)),
)
PERCENT_WINDOW = 90
"""How far before a percentage its keyword may stand (characters)."""

MATERIALS = (
    "carbon cloth",
    "carbon felt",
    "carbon paper",
    "carbon brush",
    "carbon mesh",
    "carbon nanotubes",
    "graphite brush",
    "graphite felt",
    "graphite rod",
    "graphite plate",
    "graphite granules",
    "graphene",
    "activated carbon",
    "stainless steel",
    "titanium",
    "nickel foam",
    "platinum",
    "copper",
)
_MATERIAL = re.compile(r"\b(" + "|".join(re.escape(m) for m in MATERIALS) + r")\b", re.IGNORECASE)
_ROLE = re.compile(r"\b(anodes?|cathodes?|biocathodes?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float | None
    unit: str | None
    value_si: float | None
    unit_si: str | None
    context: str
    value_text: str | None = None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("\u2212", "-"))


def _superscript(area: str) -> str:
    return f"{area}²"


def _measure(match: re.Match[str], sentence: str) -> Parameter | None:
    value = _number(match.group("num"))
    context = sentence.strip()
    if match.group("pw") is not None:
        factor = _PREFIX[match.group("pw")]
        if match.group("area"):
            area = match.group("area")
            per_m2 = factor * (1e4 if area == "cm" else 1.0)
            unit = f"{match.group('pw')}W/{_superscript(area)}"
            return Parameter(
                "power_density", value, unit, round(value * per_m2 * 1e3, 6), "mW/m²", context
            )
        per_m3 = factor * (1e3 if match.group("vol") == "L" else 1.0)
        unit = f"{match.group('pw')}W/{'L' if match.group('vol') == 'L' else 'm³'}"
        return Parameter(
            "volumetric_power_density", value, unit, round(value * per_m3, 6), "W/m³", context
        )
    if match.group("cur") is not None:
        area = match.group("carea")
        per_m2 = _PREFIX[match.group("cur")] * (1e4 if area == "cm" else 1.0)
        unit = f"{match.group('cur')}A/{_superscript(area)}"
        return Parameter("current_density", value, unit, round(value * per_m2, 6), "A/m²", context)
    if match.group("volt") is not None:
        before = sentence[max(0, match.start() - PERCENT_WINDOW) : match.start()]
        if not _VOLTAGE_WORDS.search(before):
            return None
        unit = f"{match.group('volt')}V"
        return Parameter(
            "voltage", value, unit, round(value * _PREFIX[match.group("volt")], 6), "V", context
        )
    before = sentence[max(0, match.start() - PERCENT_WINDOW) : match.start()]
    best: tuple[int, str] | None = None
    for name, pattern in _PERCENT_KINDS:
        for keyword in pattern.finditer(before):
            if best is None or keyword.end() > best[0]:
                best = (keyword.end(), name)
    if best is None:
        return None
    return Parameter(best[1], value, "%", value, "%", context)


_JOINING_WORDS = frozenset({"and", "or", "the", "a", "an", "was", "were", "is", "with", "of", "as"})
_TOKEN = re.compile(r"[A-Za-z]+")


def _role(sentence: str, start: int, end: int) -> str | None:
    """ "anode" or "cathode" for the material at ``start:end``.

    A role word right after the material ("carbon cloth anode", "platinum-coated
    carbon cloth cathode") wins; else the nearest one before it ("the anode was
    carbon paper"); else the nearest one anywhere in the sentence.
    """
    for word in _TOKEN.findall(sentence[end : end + 40])[:4]:
        lower = word.lower()
        if _ROLE.fullmatch(lower):
            return "cathode" if "cathode" in lower else "anode"
        if lower in _JOINING_WORDS:
            break
    before = [role for role in _ROLE.finditer(sentence[:start]) if start - role.end() <= 40]
    anywhere = sorted(_ROLE.finditer(sentence), key=lambda found: abs(found.start() - start))
    candidates = before[-1:] or anywhere[:1]
    if not candidates:
        return None
    role = candidates[0]
    return "cathode" if "cathode" in role.group(1).lower() else "anode"


def _materials(sentence: str) -> list[Parameter]:
    found = []
    for match in _MATERIAL.finditer(sentence):
        role = _role(sentence, match.start(), match.end())
        name = f"{role}_material" if role else "electrode_material"
        found.append(
            Parameter(name, None, None, None, None, sentence.strip(), match.group(1).lower())
        )
    return found


def extract_parameters(text: str) -> list[Parameter]:
    """Every parameter mention, once per (name, value, unit) or (role, material)."""
    found: list[Parameter] = []
    seen: set[tuple[Any, ...]] = set()
    for sentence in sentences(text):
        candidates = [p for m in _QUANTITY.finditer(sentence) if (p := _measure(m, sentence))]
        candidates.extend(_materials(sentence))
        for parameter in candidates:
            key = (parameter.name, parameter.value, parameter.unit, parameter.value_text)
            if key not in seen:
                seen.add(key)
                found.append(parameter)
    return found


def summarise(parameters: list[Parameter]) -> dict[str, Any]:
    """Per parameter name: how many mentions, and the range in the canonical unit."""
    summary: dict[str, Any] = {}
    for parameter in parameters:
        entry = summary.setdefault(parameter.name, {"count": 0})
        entry["count"] += 1
        if parameter.value_si is not None:
            entry["unit"] = parameter.unit_si
            entry["min"] = min(entry.get("min", parameter.value_si), parameter.value_si)
            entry["max"] = max(entry.get("max", parameter.value_si), parameter.value_si)
        if parameter.value_text:
            entry.setdefault("values", []).append(parameter.value_text)
    return summary
