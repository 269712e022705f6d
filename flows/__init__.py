"""Prefect flows: wiring, retries, task runner. Stage logic lives in `tasks/`."""
