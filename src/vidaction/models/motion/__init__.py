"""HCML motion modules: cost volume, prime motion block, flow estimator, motion predictors."""
