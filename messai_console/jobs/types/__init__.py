"""The catalog's job types: one module per group, each declaring payload models
and ``@job_type`` processors. Every module here is imported with the package,
so adding a job type is adding a module."""
