"""Annotation readers, one file per published format; each returns ``(records, class_names)``."""
