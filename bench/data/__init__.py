"""Data for a cell: the real data sets' offline cache, and sequences shaped for a model."""
