"""The one place where ``job add`` checks job data before anything is written."""

from __future__ import annotations

import importlib
from typing import Any

CATALOG_MODULE = "messai_console.jobs.catalog"


def validate_payload(queue: str, name: str, data: Any) -> Any:
    """The data to store for job ``name`` on ``queue``, checked by the job catalog.

    The catalog (``validate_job``) raises ``engine.InvalidJobError`` naming
    each bad field, and may return the data normalised. Until the catalog
    exists, data is stored as given."""
    try:
        catalog = importlib.import_module(CATALOG_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in ("messai_console.jobs", CATALOG_MODULE):
            return data
        raise
    return catalog.validate_job(queue, name, data)


def default_options(queue: str, name: str, data: Any) -> dict[str, Any]:
    """The catalog's default options for this job type (an email's priority,
    ML training's low priority...); the operator's own options go over them."""
    try:
        catalog = importlib.import_module(CATALOG_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in ("messai_console.jobs", CATALOG_MODULE):
            return {}
        raise
    defaults = getattr(catalog, "job_options", None)
    return dict(defaults(queue, name, data)) if defaults else {}
