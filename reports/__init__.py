"""Reports: the paper's figures, a LaTeX table of verdicts, an HTML report and a Markdown summary.

Everything here reads *stored* results only — the Monte Carlo results store
(:mod:`montecarlo.store`) and a ``python -m theory.verify --json`` document — and never samples
a network.  Theory curves (closed forms of :mod:`theory.pathsum`, mean-field recursions of
:mod:`theory.infinite_width`) are deterministic computations, not experiments.

    python -m reports.produce [--store PATH] [--quick]      # runs the experiments, once
    python -m reports [--store PATH] [--results FILE.json] --out DIR [--force]

Modules: :mod:`reports.catalog` (the grid experiments the figures need — one list shared by
``produce`` and the report), :mod:`reports.data` (finding and loading stored runs),
:mod:`reports.figures` (one function per figure), :mod:`reports.tables` (LaTeX / Markdown
verdict table), :mod:`reports.html` (the self-contained HTML page), :mod:`reports.cli`.
"""
