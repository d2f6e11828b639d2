"""The PNG copies of the screenshots place text as a terminal does."""

from __future__ import annotations

from messai_console.tui.screenshots import TEXT_RUN, _place_each_character


def test_every_character_of_a_run_gets_its_own_cell() -> None:
    svg = (
        '<text class="r1" x="97.6" y="68.8" textLength="61" clip-path="url(#c)">'
        "&#160;job&#160;</text>"
        '<text class="r2" x="12.2" y="1" textLength="12.2">╭</text>'
        '<text class="r3" x="0" y="1" textLength="36.6">日x</text>'
    )
    placed = TEXT_RUN.sub(_place_each_character, svg)
    assert 'x="97.6 109.8 122.0 134.2 146.4"' in placed  # one cell per character
    assert '<text class="r2" x="12.2" y="1" textLength="12.2">╭</text>' in placed
    assert 'x="0.0 24.4"' in placed  # a wide character takes two cells
    assert "&#160;job&#160;</text>" in placed
