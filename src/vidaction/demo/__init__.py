"""The embedded demos: recipes (YAML files in ``configs/``, :mod:`vidaction.demo.recipes`) and their
runs on synthetic data (:mod:`vidaction.demo.runs`), shared by ``vidaction demo`` and the benchmarks."""
