"""The MESSAI job catalog: typed job types on the platform's queues.

- ``registry``: an :class:`engine.ProcessorRegistry` with every catalog
  processor (``messai-console worker`` serves it by default).
- ``QUEUES``: the catalog's queue names.
- ``creators``: one-line producers, async and sync
  (``await creators.process_paper("paper-123", "extract_pdf", priority=2)``,
  ``creators.sync.send_email("user@example.com", "welcome", {"name": "Ada"})``).
- ``validate_job(queue, name, data)``: a payload checked against its model.

Every module of ``messai_console.jobs.types`` is imported here, so its
``@job_type`` declarations are registered: adding a job type is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from messai_console.jobs import types as _types
from messai_console.jobs.catalog import (
    DIAGNOSTIC_JOBS,
    Catalog,
    JobType,
    Payload,
    catalog,
    job_options,
    job_type,
    validate_job,
)
from messai_console.jobs.runtime import Services, Task, configure

for _module in sorted(pkgutil.iter_modules(_types.__path__), key=lambda m: m.name):
    importlib.import_module(f"{_types.__name__}.{_module.name}")

from messai_console.jobs import creators  # noqa: E402  (needs the job types registered)

registry = catalog.registry()
QUEUES: tuple[str, ...] = tuple(catalog.queues())

__all__ = [
    "DIAGNOSTIC_JOBS",
    "QUEUES",
    "Catalog",
    "JobType",
    "Payload",
    "Services",
    "Task",
    "catalog",
    "configure",
    "creators",
    "job_options",
    "job_type",
    "registry",
    "validate_job",
]
