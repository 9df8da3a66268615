"""matcalc's benchmark suite: matcalc side by side with what users would pick instead,
in one run on one machine, so the numbers are ratios that survive a noisy machine.

``python -m benchmarks`` runs it (``--quick`` for the seconds-long CI version,
``--parts 1,3``, ``--json PATH``); see ``benchmarks/README.md`` for the latest table.

Parts: 1 differentiation latency against SymPy and tensorgrad
(:mod:`benchmarks.part_diff`), 2 command-line latency (:mod:`benchmarks.part_cli`),
3 scaling with expression size (:mod:`benchmarks.part_scaling`), 4 speed of the
generated NumPy against hand-written NumPy, JAX, PyTorch and autograd
(:mod:`benchmarks.part_codegen`).
"""

PARTS = ("1", "2", "3", "4")
