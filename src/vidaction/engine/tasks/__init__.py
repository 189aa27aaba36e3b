"""The tasks a run can have: recognition (:mod:`.recognition`) and temporal detection (:mod:`.detection`),
each turning its config into :class:`~vidaction.engine.tasks.parts.RunParts` and rebuilding its trained models."""
