"""``experiment-data``: raw measurement CSVs parsed into the store, the
performance metrics computed from them, and an experiment report.

Each step works on its own (metrics parse the raw data first when needed);
run them in order with an engine chain, ``creators.experiment_pipeline``,
which can end with an ``experiment_complete`` email to the owner.
"""

from __future__ import annotations

import csv
import html
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from engine.errors import UnrecoverableError
from messai_console.jobs.catalog import Payload, job_type
from messai_console.jobs.electrochem import METRIC_LABELS, experiment_metrics
from messai_console.jobs.fields import Identifier
from messai_console.jobs.queues import EXPERIMENT_DATA
from messai_console.jobs.runtime import Task
from messai_console.store import Row

QUEUE = EXPERIMENT_DATA
STEP_OPTIONS: dict[str, Any] = {"attempts": 3, "backoff": {"type": "exponential", "delay_ms": 2000}}
CURRENT_COLUMNS = {"current_a": 1.0, "current_ma": 1e-3, "current_ua": 1e-6}


class ExperimentJob(Payload):
    experiment_id: Identifier
    user_id: Identifier | None = None
    """The user the work is done for: must own the experiment (or be an admin)."""


class ProcessResults(ExperimentJob):
    max_bad_rows: int = Field(default=0, ge=0)
    """Unparseable rows tolerated (skipped) before the file is rejected."""


class CalculateMetrics(ExperimentJob):
    pass


class GenerateReport(ExperimentJob):
    format: Literal["markdown", "html"] = "markdown"


def _experiment(task: Task[Any]) -> Row:
    payload: ExperimentJob = task.payload
    experiment = task.store.get("experiments", payload.experiment_id)
    if experiment is None:
        raise UnrecoverableError(f"no experiment {payload.experiment_id!r} in the store")
    if payload.user_id and payload.user_id != experiment["user_id"]:
        user = task.store.get("users", payload.user_id)
        if user is None or user.get("role") != "admin":
            raise UnrecoverableError(
                f"user {payload.user_id!r} does not own experiment {payload.experiment_id!r}"
            )
    return experiment


def _parse(task: Task[Any], experiment: Row, max_bad_rows: int = 0) -> list[dict[str, Any]]:
    path = Path(experiment["raw_path"] or "")
    rows: list[dict[str, Any]] = []
    bad: list[str] = []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        missing = {"time_s", "voltage_v"} - columns
        current = next((name for name in CURRENT_COLUMNS if name in columns), None)
        if missing:
            raise UnrecoverableError(f"{path.name}: missing column(s) {', '.join(sorted(missing))}")
        resistance = float(experiment.get("external_resistance_ohm") or 0)
        if current is None and not resistance:
            raise UnrecoverableError(
                f"{path.name}: no current column and no external resistance to derive it"
            )
        for line, record in enumerate(reader, start=2):
            try:
                voltage = float(record["voltage_v"])
                row = {
                    "experiment_id": experiment["id"],
                    "seq": len(rows),
                    "time_s": float(record["time_s"]),
                    "voltage_v": voltage,
                    "current_a": float(record[current]) * CURRENT_COLUMNS[current]
                    if current
                    else voltage / resistance,
                    "temperature_c": float(record["temperature_c"])
                    if record.get("temperature_c")
                    else None,
                }
            except (TypeError, ValueError):
                bad.append(str(line))
                continue
            rows.append(row)
    if len(bad) > max_bad_rows:
        raise UnrecoverableError(
            f"{path.name}: {len(bad)} unparseable row(s) (line {', '.join(bad[:3])}{'...' if len(bad) > 3 else ''}); "
            f"allowed {max_bad_rows}"
        )
    if not rows:
        raise UnrecoverableError(f"{path.name}: no measurements")
    rows.sort(key=lambda row: row["time_s"])
    for seq, row in enumerate(rows):
        row["seq"] = seq
    task.store.replace("measurements", {"experiment_id": experiment["id"]}, rows)
    task.store.update(
        "experiments", experiment["id"], {"status": "processed", "updated_at": time.time()}
    )
    return rows


def _measurements(task: Task[Any], experiment: Row) -> list[dict[str, Any]]:
    rows = task.store.rows("measurements", {"experiment_id": experiment["id"]}, order_by=("seq",))
    if not rows:
        task.log("no measurements yet: parsing the raw data first")
        rows = _parse(task, experiment)
    return rows


@job_type(queue=QUEUE, name="process_results", payload=ProcessResults, options=STEP_OPTIONS)
def process_results(task: Task[ProcessResults]) -> dict[str, Any]:
    """Parse the raw measurement CSV (time, voltage, current) into measurement rows."""
    experiment = _experiment(task)
    try:
        rows = _parse(task, experiment, task.payload.max_bad_rows)
    except FileNotFoundError:
        raise UnrecoverableError(f"raw data file {experiment['raw_path']} is missing") from None
    return {
        "experiment_id": experiment["id"],
        "rows": len(rows),
        "duration_h": round((rows[-1]["time_s"] - rows[0]["time_s"]) / 3600, 3),
    }


@job_type(queue=QUEUE, name="calculate_metrics", payload=CalculateMetrics, options=STEP_OPTIONS)
def calculate_metrics(task: Task[CalculateMetrics]) -> dict[str, Any]:
    """Power density, current density, coulombic efficiency, COD removal, charge and energy."""
    import numpy as np

    experiment = _experiment(task)
    rows = _measurements(task, experiment)
    task.progress(50, f"{len(rows)} measurements")
    try:
        metrics = experiment_metrics(
            np.array([row["time_s"] for row in rows]),
            np.array([row["voltage_v"] for row in rows]),
            np.array([row["current_a"] for row in rows]),
            anode_area_cm2=float(experiment["anode_area_cm2"] or 0),
            volume_ml=float(experiment["volume_ml"] or 0),
            cod_initial_mg_l=experiment.get("cod_initial_mg_l"),
            cod_final_mg_l=experiment.get("cod_final_mg_l"),
        )
    except ValueError as exc:
        raise UnrecoverableError(f"experiment {experiment['id']}: {exc}") from None
    task.store.update(
        "experiments",
        experiment["id"],
        {"metrics": metrics, "status": "analyzed", "updated_at": time.time()},
    )
    return {"experiment_id": experiment["id"], **metrics}


def _hourly(rows: list[dict[str, Any]], area_m2: float) -> list[tuple[int, float, float, float]]:
    """(hour, mean voltage, mean current density, mean power density) per hour of the run."""
    import numpy as np

    buckets: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        buckets.setdefault(int(row["time_s"] // 3600), []).append(row)
    table = []
    for hour, items in sorted(buckets.items()):
        voltage = float(np.mean([r["voltage_v"] for r in items]))
        current = float(np.mean([r["current_a"] for r in items]))
        power = float(np.mean([r["voltage_v"] * r["current_a"] for r in items]))
        table.append((hour, voltage, current / area_m2, power / area_m2 * 1e3))
    return table


def _format_value(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


@job_type(queue=QUEUE, name="generate_report", payload=GenerateReport, options=STEP_OPTIONS)
def generate_report(task: Task[GenerateReport]) -> dict[str, Any]:
    """A Markdown or HTML report of the experiment: set-up, metrics, and an hourly table."""
    experiment = _experiment(task)
    metrics = experiment.get("metrics")
    rows = _measurements(task, experiment)
    if not metrics:
        raise UnrecoverableError(
            f"experiment {experiment['id']} has no metrics yet; run calculate_metrics first"
        )
    area_m2 = float(experiment["anode_area_cm2"]) / 1e4
    setup = [
        ("System", experiment.get("system_type")),
        ("Owner", experiment.get("user_id")),
        ("Anode area", f"{experiment['anode_area_cm2']} cm²"),
        ("Volume", f"{experiment['volume_ml']} mL"),
        ("External resistance", f"{experiment['external_resistance_ohm']} Ω"),
        ("COD in / out", f"{experiment['cod_initial_mg_l']} / {experiment['cod_final_mg_l']} mg/L"),
    ]
    metric_rows = [
        (label, _format_value(metrics.get(key)), unit)
        for key, (label, unit) in METRIC_LABELS.items()
    ]
    hourly = _hourly(rows, area_m2)
    title = f"Experiment report: {experiment['name']} ({experiment['id']})"
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    if task.payload.format == "markdown":
        lines = [f"# {title}", "", f"Generated {stamp}.", "", "## Set-up", "", "| | |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in setup]
        lines += ["", "## Metrics", "", "| metric | value | unit |", "|---|---:|---|"]
        lines += [f"| {label} | {value} | {unit} |" for label, value, unit in metric_rows]
        lines += [
            "",
            "## Hourly means",
            "",
            "| hour | voltage (V) | current density (A/m²) | power density (mW/m²) |",
            "|---:|---:|---:|---:|",
        ]
        lines += [f"| {h} | {v:.4f} | {c:.4f} | {p:.2f} |" for h, v, c, p in hourly]
        content, suffix = "\n".join(lines) + "\n", "md"
    else:
        esc = html.escape
        cells = "".join(f"<tr><th>{esc(n)}</th><td>{esc(str(v))}</td></tr>" for n, v in setup)
        metric_cells = "".join(
            f"<tr><td>{esc(label)}</td><td>{esc(v)}</td><td>{esc(u)}</td></tr>"
            for label, v, u in metric_rows
        )
        hourly_cells = "".join(
            f"<tr><td>{h}</td><td>{v:.4f}</td><td>{c:.4f}</td><td>{p:.2f}</td></tr>"
            for h, v, c, p in hourly
        )
        content = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title></head><body>"
            f"<h1>{esc(title)}</h1><p>Generated {stamp}.</p><h2>Set-up</h2><table>{cells}</table>"
            f"<h2>Metrics</h2><table><tr><th>metric</th><th>value</th><th>unit</th></tr>{metric_cells}</table>"
            "<h2>Hourly means</h2><table><tr><th>hour</th><th>voltage (V)</th><th>current density (A/m²)</th>"
            f"<th>power density (mW/m²)</th></tr>{hourly_cells}</table></body></html>\n"
        )
        suffix = "html"
    path = task.paths.reports / f"experiment-{experiment['id']}.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    now = time.time()
    report_id = f"report-{experiment['id']}-{suffix}"
    task.store.upsert(
        "reports",
        {
            "id": report_id,
            "kind": "experiment",
            "subject": experiment["id"],
            "path": str(path),
            "format": task.payload.format,
            "summary": metrics,
            "created_at": now,
        },
    )
    task.store.upsert(
        "files",
        {
            "id": f"file-{report_id}",
            "kind": "report",
            "path": str(path),
            "size": path.stat().st_size,
            "ref": experiment["id"],
            "created_at": now,
        },
    )
    task.store.update("experiments", experiment["id"], {"status": "reported", "updated_at": now})
    return {
        "experiment_id": experiment["id"],
        "path": str(path),
        "format": task.payload.format,
        "metrics": len(metric_rows),
    }
