import math

import sacrebleu

from tasks.text.metrics import bleu_signature, corpus_bleu, distinct_n, exact_match_rate


def test_bleu_equals_sacrebleu_on_a_fixed_pair():
    hyps = ["The cat sat on the mat.", "A dog runs in the park today."]
    refs = ["The cat sat on a mat.", "A dog is running in the park."]
    want = sacrebleu.corpus_bleu(hyps, [refs]).score
    assert math.isclose(corpus_bleu(hyps, refs), want, rel_tol=0, abs_tol=1e-9)
    assert 20 < want < 80
    assert math.isclose(corpus_bleu(refs, refs), 100.0)
    assert bleu_signature().startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")


def test_exact_match_and_distinct():
    assert exact_match_rate(["Click  here.", "no", "Click here."], "Click here.") == 200 / 3
    assert distinct_n(["a b a b"], 1) == 50.0
    assert distinct_n(["a b a b"], 2) == 200 / 3
    assert distinct_n([""], 2) == 0.0
