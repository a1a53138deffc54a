"""Prometheus metrics: process instruments, the database-derived families, and /metrics."""
