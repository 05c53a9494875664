"""Check your own architecture at initialization: ``python -m montecarlo.probe TARGET``.

The paper's question — do this network's gradients shatter? — asked of any ``torch.nn.Module``,
with standard errors over initializations, the paper's baselines and, where the user states the
block structure, the theory's curves.  Modules, one idea each:

* :mod:`.target` — ``MODULE:FACTORY`` or ``path/file.py:FACTORY`` → a factory of fresh models (no torch);
* :mod:`.settings` — the validated settings; the CLI's flags come from their fields (no torch);
* :mod:`.measure` — one forward and one backward pass per initialization, hooks on the probed
  layers, the path pass (torch);
* :mod:`.baselines` — white and brown noise, white Gaussian effective rank, ``1/√B`` (no torch);
* :mod:`.document` — estimates, verdicts (:mod:`theory.decision`) and theory curves
  (:mod:`theory.predict`) as one JSON document (no torch);
* :mod:`.examples` — small models with known answers (plain and resnet MLPs with BN, a shallow
  net, LayerNorm/GELU/dropout, the looks-linear CReLU convnet);
* :mod:`.cli` — the command, an application entry: the page for ``--out`` is
  :mod:`reports.probe_page`'s.

Importing this package imports no torch.  From Python::

    from montecarlo.probe.measure import Inputs, run_probe
    from montecarlo.probe.settings import ProbeSettings
    from montecarlo.probe.document import build_document
    run = run_probe(my_factory, Inputs((3, 32, 32)), ProbeSettings(inits=16))
    doc = build_document(run, target="mine", command=[])
"""
