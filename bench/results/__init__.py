"""Result files: their schema and atomic I/O, the ledger, shared trial storage, trust, and
provenance. The run layer writes them; the report layer reads them.

The result-file API is re-exported here (``bench.results.load_all`` and friends).
"""

from bench.results.files import (
    REQUIRED,
    SCHEMA_VERSION,
    cell_path,
    dumps,
    load_all,
    load_each,
    plain,
    problem,
    read,
    result_files,
    upgraded,
    validate,
    write_atomic,
)

__all__ = ["REQUIRED", "SCHEMA_VERSION", "cell_path", "dumps", "load_all", "load_each",
           "plain", "problem", "read", "result_files", "upgraded", "validate", "write_atomic"]
