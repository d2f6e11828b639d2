"""Field types shared by the payload models."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][\w.@-]*$")]
"""An id of a row in the store: letters, digits, ``_ . @ -``."""

EmailAddress = Annotated[
    str, Field(min_length=3, max_length=254, pattern=r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
]
"""One address (no display name, no line breaks: nothing that could add a header)."""
