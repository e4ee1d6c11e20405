"""Tools around the pipeline: the submission checker, the installer, and restamping results.

``bench.tools.install`` runs before any dependency is installed: keep this package marker free
of imports."""
