"""Operator actions on queues and jobs, shared by the screens that offer them."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from messai_console.text import descendants_text
from messai_console.tui import render
from messai_console.tui.backend import CONNECTION_ERRORS, QueueLimits
from messai_console.tui.limits import LimitsChoice, LimitsScreen, describe
from messai_console.tui.screens.base import ConsoleScreen


def _question(*parts: str | Text) -> Text:
    """A confirm question; untrusted parts arrive already as safe Text."""
    text = Text()
    for part in parts:
        text.append_text(part if isinstance(part, Text) else Text(part))
    return text


def _name(value: str) -> Text:
    return render.safe(value, 80, style="bold")


class QueueActions(ConsoleScreen):
    """p, d, R and c on one queue."""

    def pause_or_resume(self, name: str, paused: bool) -> None:
        queue = self.backend.writable(name)

        async def run(_choice: str) -> str:
            if paused:
                await queue.resume()
                return f"queue {render.visible_str(name)} resumed"
            await queue.pause()
            return f"queue {render.visible_str(name)} paused"

        self.console.act("resume" if paused else "pause", run)

    def _with_counts(self, name: str, ask: Callable[[dict[str, int]], None]) -> None:
        """Read the queue's counts now, then ask: a question says how many jobs it touches."""
        if self.console.readonly:
            ask({})  # refused at once, nothing read
            return

        async def read() -> None:
            try:
                counts = await self.backend.queue(name).counts()
            except CONNECTION_ERRORS as exc:
                self.console.mark_disconnected(exc)
                return
            ask(counts)

        self.run_worker(read(), group="ask", exclusive=True, exit_on_error=False)

    def edit_limits(self, name: str, after: Callable[[], None] | None = None) -> None:
        """L: the queue's rate limit and global concurrency, read then changed live."""
        if self.console.readonly:
            self.notify("read-only console: limits is disabled", severity="warning", markup=False)
            return
        queue = self.backend.writable(name)

        async def read() -> None:
            try:
                current = await self.backend.limits(name)
            except CONNECTION_ERRORS as exc:
                self.console.mark_disconnected(exc)
                return
            self.app.push_screen(LimitsScreen(name, current), chosen)

        def chosen(choice: LimitsChoice | None) -> None:
            if choice is None:
                return

            async def run(_choice: str) -> str:
                await queue.set_rate_limit(choice.max_starts, choice.duration_ms)
                await queue.set_global_concurrency(choice.concurrency)
                limits = QueueLimits(choice.max_starts, choice.duration_ms, choice.concurrency)
                return f"queue {render.visible_str(name)}: {describe(limits)}"

            self.console.act("limits", run, after=after)

        self.run_worker(read(), group="ask", exclusive=True, exit_on_error=False)

    def drain(self, name: str) -> None:
        queue = self.backend.writable(name)

        async def run(_choice: str) -> str:
            removed = await queue.drain()
            return (
                f"drained {render.visible_str(name)}: {removed:,} waiting and delayed jobs removed"
            )

        def ask(counts: dict[str, int]) -> None:
            waiting, delayed = counts.get("waiting", 0), counts.get("delayed", 0)
            question = _question(
                "Drain queue ",
                _name(name),
                f"?\n\n{waiting + delayed:,} jobs are deleted: {waiting:,} waiting and "
                f"{delayed:,} delayed (and any added meanwhile). Running jobs finish.",
            )
            self.console.act("drain", run, question, [("yes", f"Drain {waiting + delayed:,}")])

        self._with_counts(name, ask)

    def retry_all_failed(self, name: str) -> None:
        queue = self.backend.writable(name)

        async def run(_choice: str) -> str:
            moved = await queue.retry_failed()
            return f"{moved:,} failed jobs of {render.visible_str(name)} sent back to waiting"

        def ask(counts: dict[str, int]) -> None:
            failed = counts.get("failed", 0)
            question = _question(
                f"Retry the {failed:,} failed jobs of ",
                _name(name),
                "?\n\nThey go back to waiting with fresh attempts.",
            )
            self.console.act("retry all", run, question, [("yes", f"Retry {failed:,}")])

        self._with_counts(name, ask)

    def clean(self, name: str) -> None:
        """Asks which finished jobs to delete; the buttons keep one order everywhere."""
        queue = self.backend.writable(name)

        async def run(state: str) -> str:
            removed = await queue.clean(state)
            return f"cleaned {render.visible_str(name)}: {removed:,} {state} jobs deleted"

        def ask(counts: dict[str, int]) -> None:
            question = _question(
                "Clean queue ", _name(name), "?\n\nThe chosen finished jobs are deleted for good."
            )
            choices = [
                (state, f"Delete {counts.get(state, 0):,} {state}")
                for state in ("completed", "failed")
            ]
            self.console.act("clean", run, question, choices)

        self._with_counts(name, ask)


JOB_ACTION_STATES: dict[str, frozenset[str]] = {
    "retry": frozenset({"failed"}),
    "cancel_job": frozenset({"waiting", "delayed", "pending", "active"}),
    "remove": frozenset({"waiting", "delayed", "pending", "completed", "failed"}),
    "promote": frozenset({"delayed"}),
}
"""The job states each job action applies to (as the engine's scripts accept them)."""


def unavailable_for(state: str | None) -> dict[str, str]:
    """The job actions that cannot apply to a job in ``state``, each with why."""
    if state is None:
        return {}
    return {
        action: f"not for a {state} job"
        for action, states in JOB_ACTION_STATES.items()
        if state not in states
    }


class JobActions(ConsoleScreen):
    """r, x, delete and P on one job or on several marked ones."""

    def _each(
        self, verb: str, queue_name: str, job_ids: list[str], call: str, done: str
    ) -> Callable[[str], object]:
        queue = self.backend.writable(queue_name)

        async def run(_choice: str) -> str:
            method = getattr(queue, call)
            for job_id in job_ids:
                await method(job_id)
            if len(job_ids) == 1:
                return f"job {render.visible_str(job_ids[0], 60)} {done}"
            return f"{len(job_ids)} jobs {done}"

        return run

    def retry_jobs(
        self, queue_name: str, job_ids: list[str], after: Callable[[], None] | None = None
    ) -> None:
        run = self._each("retry", queue_name, job_ids, "retry_job", "sent back to waiting")
        self.console.act("retry", run, after=after)  # type: ignore[arg-type]

    def promote_jobs(
        self, queue_name: str, job_ids: list[str], after: Callable[[], None] | None = None
    ) -> None:
        run = self._each("promote", queue_name, job_ids, "promote", "promoted to waiting")
        self.console.act("promote", run, after=after)  # type: ignore[arg-type]

    def cancel_jobs(
        self, queue_name: str, job_ids: list[str], after: Callable[[], None] | None = None
    ) -> None:
        run = self._each("cancel", queue_name, job_ids, "cancel", "cancelled")
        what = _ids_text(job_ids)
        question = _question(
            "Cancel ",
            what,
            "?\n\nA waiting job is removed; a running one is stopped by its worker.",
        )
        self.console.act("cancel", run, question, [("yes", "Cancel job")], after=after)  # type: ignore[arg-type]

    def remove_jobs(
        self, queue_name: str, job_ids: list[str], after: Callable[[], None] | None = None
    ) -> None:
        queue = self.backend.queue(queue_name)

        async def run(_choice: str) -> str:
            descendants = 0
            for job_id in job_ids:
                descendants += (await queue.remove_job(job_id)).descendants
            if len(job_ids) == 1:
                done = f"job {render.visible_str(job_ids[0], 60)} removed"
            else:
                done = f"{len(job_ids)} jobs removed"
            return done + (f", with {descendants_text(descendants)}" if descendants else "")

        question = _question(
            "Remove ",
            _ids_text(job_ids),
            "?\n\nThe job and its logs are deleted, with the jobs it waits for"
            " that have not run (a flow's children).",
        )
        self.console.act("remove", run, question, [("yes", "Remove")], after=after)


PRIORITY_CHOICES: list[tuple[str, str]] = [
    ("1", "High (1)"),
    ("5", "Normal (5)"),
    ("10", "Low (10)"),
]
DELAY_CHOICES: list[tuple[str, str]] = [
    ("0", "Now"),
    ("60000", "In 1 min"),
    ("600000", "In 10 min"),
    ("3600000", "In 1 h"),
]
CHANGEABLE = frozenset({"waiting", "delayed"})
"""States of a job whose priority and delay can change (it has not started)."""


class JobChanges(ConsoleScreen):
    """o and D on one job that has not started: its priority, its delay."""

    def change_priority(self, queue_name: str, job_id: str) -> None:
        queue = self.backend.queue(queue_name)

        async def run(choice: str) -> str:
            state = await queue.change_priority(job_id, int(choice))
            return f"job {render.visible_str(job_id, 60)} now has priority {choice} ({state})"

        question = _question(
            "New priority for ",
            _ids_text([job_id]),
            "?\n\nA waiting job moves behind the jobs of its new priority.",
        )
        self.console.act("priority", run, question, PRIORITY_CHOICES)

    def change_delay(self, queue_name: str, job_id: str) -> None:
        queue = self.backend.queue(queue_name)

        async def run(choice: str) -> str:
            state = await queue.change_delay(job_id, int(choice))
            return f"job {render.visible_str(job_id, 60)} is {state}"

        question = _question(
            "Run ", _ids_text([job_id]), " when?\n\nThe delay counts from now; Now: waiting."
        )
        self.console.act("delay", run, question, DELAY_CHOICES)


def _ids_text(job_ids: list[str]) -> Text:
    if len(job_ids) == 1:
        return _question("job ", _name(job_ids[0]))
    return Text(f"{len(job_ids)} marked jobs", style="bold")
