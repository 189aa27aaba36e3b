"""vidaction.evaluation."""
