"""The ``:`` palette: jump to a queue, a job by id, or a screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from messai_console.tui import render

if TYPE_CHECKING:
    from messai_console.tui.app import ConsoleApp

SCREENS: tuple[tuple[str, str, str], ...] = (
    ("overview", "Overview: every queue", "overview"),
    ("workers", "Workers: every worker process", "workers"),
    ("events", "Events: the live event stream", "events"),
    ("metrics", "Metrics: completed and failed per minute", "metrics"),
    ("schedules", "Schedules: what fires when, next fire and count", "schedules"),
    ("nodes", "Nodes: master and replicas, memory, ops/s, replication lag", "nodes"),
)


class JumpCommands(Provider):
    """Queues and screens by fuzzy name; any other text is tried as a job id."""

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    def _targets(self) -> list[tuple[str, Text, object, str]]:
        app = self.console
        targets: list[tuple[str, Text, object, str]] = [
            (key, Text(label), partial(self._open_screen, action), "screen")
            for key, label, action in SCREENS
        ]
        for name in app.known_queues:
            label = Text("queue ", style="dim")
            label.append(render.visible_str(name, 80))
            targets.append((name, label, partial(app.open_queue, name), "open this queue"))
        return targets

    def _open_screen(self, action: str) -> None:
        app = self.console
        if action == "overview":
            while len(app.screen_stack) > 1:
                app.pop_screen()
            return
        app.run_worker(app.run_action(action), exit_on_error=False)

    def _jump_to_job(self, job_id: str) -> None:
        self.console.run_worker(self.console.jump_to_job(job_id), exit_on_error=False)

    async def discover(self) -> Hits:
        for _key, label, command, help_text in self._targets():
            yield DiscoveryHit(label, command, text=label.plain, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> AsyncIterator[Hit]:
        matcher = self.matcher(query)
        for key, label, command, help_text in self._targets():
            score = matcher.match(key)
            if score > 0:
                yield Hit(score, label, command, text=label.plain, help=help_text)  # type: ignore[arg-type]
        job_ref = query.strip()
        if job_ref:
            queue, job_id = self.console.split_job_ref(job_ref)
            display = Text("job ", style="dim")
            display.append(render.visible_str(job_id, 80))
            if queue is not None:
                display.append(" in ", style="dim")
                display.append(render.visible_str(queue, 60))
            yield Hit(
                0.5 if queue is not None else 0.01,
                display,
                partial(self._jump_to_job, job_ref),
                text=display.plain,
                help="open this job" if queue else "find the job with this id in any queue",
            )
