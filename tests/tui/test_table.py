"""The keyed table: a cell that grows widens its column instead of being cut."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from messai_console.tui.widgets import KeyedTable
from tests.helpers import await_until
from tests.tui.support import screen_lines


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        table = KeyedTable()
        for key in ("queue", "waiting", "paused"):
            table.add_column(key, key=key)
        yield table


async def test_a_count_past_a_million_widens_its_column() -> None:
    app = OneTable()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync([("bulk", (Text("bulk"), Text("920,350", justify="right"), Text("no")))])
        await pilot.pause()
        table.sync([("bulk", (Text("bulk"), Text("1,078,412", justify="right"), Text("no")))])
        await await_until(lambda: "1,078,412  no" in screen_lines(app)[1], message="cut")  # type: ignore[arg-type]
