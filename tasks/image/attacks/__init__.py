"""Image trigger attacks, one module each; importing this package registers them all under
the ``image`` namespace of ``core.registry.ATTACKS``.

Dirty label (an exact ``poison_rate`` share of non-target samples, relabelled): ``badnets``,
``blend``, ``trojan_one``, ``trojan_all``, ``wanet`` (+ noise-mode samples), ``bppa``
(+ negative samples). Clean label (``poison_rate`` = share of the target class, labels kept):
``sig``, ``clb`` (needs ``prepare`` to train its PGD surrogate).
"""
from . import badnets, blend, bppa, clb, sig, trojan, wanet  # noqa: F401  (registration)
