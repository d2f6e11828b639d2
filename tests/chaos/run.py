"""Run the chaos scenarios and print one table of figures, a row per scenario:
``python -m tests.chaos.run [pytest args]`` (``just chaos`` runs it at the
long scale). The scale comes from ``CHAOS_SCALE`` (fast or long)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.chaos.checker import Report, format_table
from tests.chaos.harness import REPORT_PROPERTY

CHAOS_DIR = Path(__file__).resolve().parent


class ReportTable:
    """A pytest plugin: gathers each scenario's report and prints the table at the end."""

    def __init__(self) -> None:
        self.reports: list[tuple[Report, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        outcome = "xfail" if hasattr(report, "wasxfail") else report.outcome
        for name, value in report.user_properties:
            if name == REPORT_PROPERTY:
                self.reports.append((Report.from_json(str(value)), outcome))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.reports:
            return
        reports = sorted(self.reports, key=lambda item: item[0].scenario)
        table = format_table([report for report, _ in reports]).splitlines()
        terminalreporter.section("chaos: figures per scenario")
        terminalreporter.write_line(f"{table[0]}  outcome")
        terminalreporter.write_line(table[1])
        for line, (_, outcome) in zip(table[2:], reports, strict=True):
            terminalreporter.write_line(f"{line}  {outcome}")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return int(
        pytest.main([str(CHAOS_DIR), "-p", "no:cacheprovider", *args], plugins=[ReportTable()])
    )


if __name__ == "__main__":
    sys.exit(main())
