"""lexiflow: large text corpora into searchable representations."""

__version__ = "0.1.0"
