"""The local board server: the HrFlow job API on SQLite (`jobkit serve`, and in-process)."""
