"""Image trigger attacks, one module each; importing this package registers them all under
the ``image`` namespace of ``core.registry.ATTACKS``.

Dirty label (an exact ``poison_rate`` share of non-target samples, relabelled): ``badnets``,
``blend``, ``trojan_one``, ``trojan_all``, ``wanet`` (+ noise-mode samples), ``bppa``
(+ negative samples). Clean label (``poison_rate`` = share of the target class, labels kept):
``sig``, ``clb`` (needs ``prepare`` to train its PGD surrogate).

Learned triggers (``prepare`` trains the trigger network, cached as safetensors through
``Attack.cached_module``; the trigger is unavailable before it): ``dyn_one`` / ``dyn_all``
(Input-aware), ``issba``, ``lira``, ``fba``; ``cba`` (composite of two classes' images; its
``prepare`` keeps a pool of partner images). Composites of supp. Table 12:
``badnets_blend_trojan`` (one shared 10 % budget), ``sig_clb`` (clean label).
"""
from . import (badnets, blend, bppa, cba, clb, composite, fba, inputaware,  # noqa: F401
               issba, lira, sig, trojan, wanet)
