"""Training objectives: distillation (W3 eq. 9)."""
