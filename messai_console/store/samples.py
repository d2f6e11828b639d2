"""Sample platform data for the demo and the tests: small real PDF papers with
MES figures in their text, raw experiment CSVs, users, and a little clutter
for the cleanup jobs to find.

Everything is generated (deterministically) into the data directory, so
nothing is downloaded and the data is the same on every machine.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from messai_console.store.base import Store
from messai_console.store.textpdf import write_text_pdf

DAY_S = 86_400.0

KNOWN_SENTENCE = (
    "The acetate-fed reactor reached a maximum power density of 1,250 mW/m² "
    "at a current density of 3.4 A/m²."
)
"""A sentence of the first sample paper, for checking extraction end to end."""


@dataclass(frozen=True)
class SamplePaper:
    id: str
    title: str
    authors: str
    year: int
    system_type: str
    blocks: tuple[tuple[str, str], ...]


PAPERS: tuple[SamplePaper, ...] = (
    SamplePaper(
        id="paper-mfc-acetate",
        title="Power generation from acetate-fed microbial fuel cells with carbon cloth anodes",
        authors="L. Moreno, K. Okafor, J. Lindqvist",
        year=2021,
        system_type="MFC",
        blocks=(
            (
                "Abstract",
                "Microbial fuel cells (MFCs) convert the chemical energy of organic matter into "
                "electricity through the metabolism of exoelectrogenic bacteria. "
                + KNOWN_SENTENCE
                + " The open circuit voltage was 0.72 V and the coulombic efficiency (CE) was 38%. "
                "A COD removal of 87% was obtained over a 48 h batch cycle.",
            ),
            (
                "1. Introduction",
                "Bioelectrochemical systems couple wastewater treatment with energy recovery. "
                "The anode material controls biofilm formation and electron transfer, while the "
                "cathode often limits the power output of single-chamber reactors.\n\n"
                "Carbon cloth is a common anode because it is conductive, porous and stable. "
                "In this work we report the performance of cubic air-cathode reactors fed with "
                "sodium acetate and inoculated with domestic wastewater.",
            ),
            (
                "2. Materials and methods",
                "Single-chamber reactors (28 mL) were built with a carbon cloth anode of 7 cm² "
                "and a platinum-coated carbon cloth cathode exposed to air. The external "
                "resistance was 1000 ohm and the temperature was kept at 30 °C.\n\n"
                "Voltage across the external resistor was recorded every 10 minutes. Power "
                "density was normalised to the projected anode area; coulombic efficiency was "
                "calculated from the charge transferred and the COD removed.",
            ),
            (
                "3. Results and discussion",
                KNOWN_SENTENCE + " Polarisation curves showed that the internal resistance "
                "decreased as the biofilm matured. The coulombic efficiency of 38% indicates "
                "that methanogens consumed part of the substrate.\n\n"
                "Electrode materials had a strong effect: the carbon cloth anode outperformed a "
                "graphite rod anode, which produced 410 mW/m² under the same conditions.",
            ),
            (
                "4. Conclusions",
                "Acetate-fed MFCs with carbon cloth anodes produced stable power and removed most "
                "of the organic load. Cheaper cathode catalysts are the next step.",
            ),
        ),
    ),
    SamplePaper(
        id="paper-mec-hydrogen",
        title="Hydrogen production in a microbial electrolysis cell with a graphite brush anode",
        authors="S. Haddad, P. Novak",
        year=2022,
        system_type="MEC",
        blocks=(
            (
                "Abstract",
                "Microbial electrolysis cells (MECs) produce hydrogen from organic matter with a "
                "small applied voltage. With an applied voltage of 0.8 V, the MEC reached a "
                "current density of 10.2 A/m² and a hydrogen production rate of 1.1 m³/m³/d. "
                "The coulombic efficiency was 92% and the COD removal was 78%.",
            ),
            (
                "1. Introduction",
                "Hydrogen is a clean energy carrier, and MECs can recover it from wastewater at "
                "a fraction of the energy that water electrolysis needs. Cathode materials "
                "remain costly, which motivates stainless steel alternatives.",
            ),
            (
                "2. Methods",
                "A two-chamber MEC with a graphite brush anode and a stainless steel mesh "
                "cathode was separated by an anion exchange membrane. The anolyte contained "
                "1 g/L acetate in phosphate buffer.\n\n"
                "Hydrogen was collected in gas bags and measured by gas chromatography.",
            ),
            (
                "3. Results",
                "Current increased during the first three days and then stabilised. At 0.8 V "
                "the current density was 10.2 A/m², and cathodic hydrogen recovery was 81%.",
            ),
            (
                "4. Discussion",
                "The stainless steel cathode performed close to platinum at a small fraction of "
                "the cost, although its overpotential was higher.",
            ),
            (
                "5. Conclusion",
                "Graphite brush anodes and stainless steel cathodes make MECs cheaper.",
            ),
        ),
    ),
    SamplePaper(
        id="paper-mfc-brewery",
        title="Scaling up air-cathode microbial fuel cells for brewery wastewater treatment",
        authors="R. Achterberg, M. Sato, E. Duarte",
        year=2020,
        system_type="MFC",
        blocks=(
            (
                "Abstract",
                "A stack of air-cathode microbial fuel cells treated real brewery wastewater. "
                "The stack produced a volumetric power density of 18.5 W/m³ with a COD removal "
                "of 91%, while the coulombic efficiency remained at 21%.",
            ),
            (
                "1. Introduction",
                "Brewery wastewater is rich in readily degradable carbohydrates, which makes it a "
                "good fuel for MFCs. Scaling up is limited by ohmic losses and cathode fouling.",
            ),
            (
                "2. Materials and methods",
                "Each module used a carbon felt anode and an activated carbon air cathode. Cell "
                "voltage was 0.45 V under a 100 ohm load.",
            ),
            (
                "3. Results and discussion",
                "The maximum power density per cathode area was 310 mW/m². Organic loading above "
                "2 kg COD/m³/d lowered the coulombic efficiency.",
            ),
            (
                "4. Conclusions",
                "Modular MFC stacks can treat brewery effluent while producing power.",
            ),
        ),
    ),
    SamplePaper(
        id="paper-mdc-desalination",
        title="Simultaneous desalination and power generation in a microbial desalination cell",
        authors="A. Benali, T. Kowalczyk",
        year=2019,
        system_type="MDC",
        blocks=(
            (
                "Abstract",
                "Microbial desalination cells (MDCs) remove salt using the electric field of an "
                "MFC. The MDC reached a maximum power density of 931 mW/m² and removed 63% of the "
                "salt in one cycle. The coulombic efficiency was 58% and the open circuit voltage "
                "was 0.55 V.",
            ),
            (
                "1. Introduction",
                "Desalination is energy intensive; MDCs desalinate without external power by "
                "driving ions across exchange membranes.",
            ),
            (
                "2. Methods",
                "Three chambers were separated by anion and cation exchange membranes. The anode "
                "was carbon paper and the cathode was carbon paper with a platinum catalyst.",
            ),
            (
                "3. Results",
                "The current density reached 2.1 A/m² at the maximum power point, and the COD "
                "removal was 70% in the anode chamber.",
            ),
            ("4. Conclusion", "MDCs can pre-treat brackish water while producing electricity."),
        ),
    ),
    SamplePaper(
        id="paper-mes-acetate",
        title="Microbial electrosynthesis of acetate from carbon dioxide on graphite felt cathodes",
        authors="Y. Chen, O. Mbeki, F. Rossi",
        year=2023,
        system_type="MES",
        blocks=(
            (
                "Abstract",
                "Microbial electrosynthesis (MES) reduces carbon dioxide to organic acids on a "
                "biocathode. At a cathode potential of -0.85 V, the graphite felt cathode "
                "reached a current density of 5.6 A/m² with a coulombic efficiency of 84% "
                "towards acetate.",
            ),
            (
                "1. Introduction",
                "MES stores renewable electricity in chemical bonds. Cathode materials with a "
                "large surface area support dense autotrophic biofilms.",
            ),
            (
                "2. Materials and methods",
                "H-type reactors with graphite felt cathodes and a titanium mesh anode were "
                "operated under a continuous CO2 supply.",
            ),
            (
                "3. Results and discussion",
                "Acetate accumulated to 6.5 g/L within 20 days, and the current density was "
                "stable at 5.6 A/m².",
            ),
            ("4. Conclusions", "Graphite felt biocathodes are a robust platform for MES."),
        ),
    ),
)


@dataclass(frozen=True)
class SampleExperiment:
    id: str
    user_id: str
    name: str
    system_type: str
    anode_area_cm2: float
    volume_ml: float
    external_resistance_ohm: float
    cod_initial_mg_l: float
    cod_final_mg_l: float
    temperature_c: float
    peak_voltage_v: float
    hours: float


EXPERIMENTS: tuple[SampleExperiment, ...] = (
    SampleExperiment(
        "exp-acetate-1k",
        "user-lena",
        "Acetate MFC, 1 kΩ",
        "MFC",
        7.0,
        28.0,
        1000.0,
        1000.0,
        150.0,
        30.0,
        0.55,
        48.0,
    ),
    SampleExperiment(
        "exp-acetate-500",
        "user-lena",
        "Acetate MFC, 500 Ω",
        "MFC",
        7.0,
        28.0,
        500.0,
        1000.0,
        120.0,
        30.0,
        0.48,
        48.0,
    ),
    SampleExperiment(
        "exp-brewery",
        "user-kofi",
        "Brewery wastewater MFC",
        "MFC",
        25.0,
        130.0,
        200.0,
        2400.0,
        310.0,
        25.0,
        0.42,
        72.0,
    ),
    SampleExperiment(
        "exp-mdc",
        "user-kofi",
        "Desalination cell",
        "MDC",
        7.0,
        28.0,
        1000.0,
        900.0,
        270.0,
        30.0,
        0.51,
        36.0,
    ),
)

USERS: tuple[dict[str, str], ...] = (
    {
        "id": "user-lena",
        "email": "lena.moreno@example.com",
        "name": "Lena Moreno",
        "role": "researcher",
    },
    {
        "id": "user-kofi",
        "email": "kofi.okafor@example.com",
        "name": "Kofi Okafor",
        "role": "researcher",
    },
    {"id": "user-admin", "email": "admin@example.com", "name": "Platform Admin", "role": "admin"},
)

CORRUPT_PAPER_ID = "paper-corrupt-upload"
MALFORMED_EXPERIMENT_ID = "exp-malformed-upload"


def simulate_measurements(
    experiment: SampleExperiment, step_s: float, seed: int
) -> list[dict[str, float]]:
    """Cell voltage of a batch cycle: start-up, plateau, then decline as the substrate runs out."""
    rng = random.Random(seed)
    rows = []
    total_s = experiment.hours * 3600
    steps = int(total_s // step_s) + 1
    for index in range(steps):
        t = index * step_s
        hours = t / 3600
        startup = 1 - math.exp(-hours / 2.5)
        depletion = 1 / (1 + math.exp((hours - 0.8 * experiment.hours) / 2.0))
        voltage = experiment.peak_voltage_v * startup * depletion + rng.gauss(0, 0.004)
        voltage = max(voltage, 0.0)
        rows.append(
            {
                "time_s": round(t, 1),
                "voltage_v": round(voltage, 5),
                "current_ma": round(voltage / experiment.external_resistance_ohm * 1000, 6),
                "temperature_c": round(experiment.temperature_c + rng.gauss(0, 0.2), 2),
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, float]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["time_s", "voltage_v", "current_ma", "temperature_c"]
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass(frozen=True)
class SeededData:
    papers: list[str]
    experiments: list[str]
    users: list[str]
    corrupt_paper: str
    malformed_experiment: str


def seed(store: Store, small: bool = False, now: float | None = None) -> SeededData:
    """Write the sample files and rows (again: seeding twice gives the same data)."""
    now = time.time() if now is None else now
    paths = store.paths
    paths.ensure()
    papers = PAPERS[:2] if small else PAPERS
    experiments = EXPERIMENTS[:1] if small else EXPERIMENTS
    for user in USERS:
        store.upsert("users", {**user, "created_at": now - 30 * DAY_S})

    for index, paper in enumerate(papers):
        path = paths.files / "papers" / f"{paper.id}.pdf"
        created = now - (len(papers) - index) * DAY_S
        write_text_pdf(path, paper.title, paper.authors, list(paper.blocks), created=created)
        _add_paper(
            store,
            paper.id,
            paper.title,
            paper.authors,
            paper.year,
            paper.system_type,
            path,
            created,
        )

    corrupt = paths.files / "papers" / f"{CORRUPT_PAPER_ID}.pdf"
    corrupt.write_bytes(b"%PDF-1.4\n% upload interrupted before the first object\n")
    _add_paper(store, CORRUPT_PAPER_ID, "Interrupted upload", "Unknown", 2024, "MFC", corrupt, now)

    step_s = 1800.0 if small else 600.0
    for index, experiment in enumerate(experiments):
        hours = min(experiment.hours, 12.0) if small else experiment.hours
        spec = dataclasses.replace(experiment, hours=hours)
        path = write_csv(
            paths.files / "experiments" / f"{experiment.id}.csv",
            simulate_measurements(spec, step_s, seed=index),
        )
        _add_experiment(store, spec, path, now - DAY_S)

    malformed = paths.files / "experiments" / f"{MALFORMED_EXPERIMENT_ID}.csv"
    malformed.write_text("time_s,voltage_v\n0,0.1\n600,not-a-number\n")
    _add_experiment(
        store,
        SampleExperiment(
            MALFORMED_EXPERIMENT_ID,
            "user-kofi",
            "Truncated logger export",
            "MFC",
            7.0,
            28.0,
            1000.0,
            1000.0,
            200.0,
            30.0,
            0.5,
            1.0,
        ),
        malformed,
        now,
    )
    _add_clutter(store, now)
    return SeededData(
        papers=[paper.id for paper in papers],
        experiments=[experiment.id for experiment in experiments],
        users=[user["id"] for user in USERS],
        corrupt_paper=CORRUPT_PAPER_ID,
        malformed_experiment=MALFORMED_EXPERIMENT_ID,
    )


def _add_paper(
    store: Store,
    paper_id: str,
    title: str,
    authors: str,
    year: int,
    system_type: str,
    path: Path,
    created: float,
) -> None:
    store.upsert(
        "papers",
        {
            "id": paper_id,
            "title": title,
            "authors": authors,
            "year": year,
            "system_type": system_type,
            "file_path": str(path),
            "status": "uploaded",
            "created_at": created,
            "updated_at": created,
        },
    )
    store.upsert("files", _file_row(f"file-{paper_id}", "paper", path, paper_id, created))


def _add_experiment(store: Store, experiment: SampleExperiment, path: Path, created: float) -> None:
    store.upsert(
        "experiments",
        {
            "id": experiment.id,
            "user_id": experiment.user_id,
            "name": experiment.name,
            "system_type": experiment.system_type,
            "raw_path": str(path),
            "anode_area_cm2": experiment.anode_area_cm2,
            "volume_ml": experiment.volume_ml,
            "external_resistance_ohm": experiment.external_resistance_ohm,
            "cod_initial_mg_l": experiment.cod_initial_mg_l,
            "cod_final_mg_l": experiment.cod_final_mg_l,
            "temperature_c": experiment.temperature_c,
            "status": "uploaded",
            "created_at": created,
            "updated_at": created,
        },
    )
    store.upsert(
        "files", _file_row(f"file-{experiment.id}", "raw-data", path, experiment.id, created)
    )


def _file_row(file_id: str, kind: str, path: Path, ref: str, created: float) -> dict[str, Any]:
    return {
        "id": file_id,
        "kind": kind,
        "path": str(path),
        "size": path.stat().st_size,
        "ref": ref,
        "created_at": created,
    }


def _add_clutter(store: Store, now: float) -> None:
    """What a platform accumulates: a stray upload, stale temp files, old rows."""
    paths = store.paths
    stale = now - 3 * DAY_S
    orphan = paths.files / "papers" / "abandoned-upload.pdf"
    orphan.write_bytes(b"%PDF-1.4\n% never registered\n")
    os.utime(orphan, (stale, stale))
    for index in range(3):
        temp = paths.temp / f"render-{index}.tmp"
        temp.write_text("intermediate data\n")
        os.utime(temp, (stale, stale))
    store.upsert(
        "temp_data",
        {"key": "session:expired", "value": "{}", "created_at": stale, "expires_at": stale + 3600},
    )
    store.upsert(
        "temp_data",
        {"key": "session:live", "value": "{}", "created_at": now, "expires_at": now + DAY_S},
    )
    old = now - 400 * DAY_S
    store.replace(
        "email_log",
        {"job_id": "seed-old-mail"},
        [
            {
                "job_id": "seed-old-mail",
                "recipient": user["email"],
                "template": "welcome",
                "subject": "Welcome to MESSAI",
                "transport": "outbox",
                "created_at": old,
            }
            for user in USERS
        ],
    )
