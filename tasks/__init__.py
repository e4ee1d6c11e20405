"""Task definitions: one declarative YAML file per task, plus the generator modules they name.

Files whose name starts with ``_`` are templates for ``include:``, not tasks.
"""
