"""Annotation readers, one module per published format; each returns ``(records, class_names)``
with every error an :class:`~vidaction.data.errors.AnnotationError` naming the file and line."""
