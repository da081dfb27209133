"""Helpers the tests share: running services in-process, producing and reading records."""
