"""Object-replacement pools belong to their vocabulary: a new vocabulary never sees an old one's pools, even
when it reuses a freed vocabulary's memory address (the old module-level cache keyed by `id(vocab)` did)."""

from __future__ import annotations

import gc

from actionbench.lexicon.objects import ObjectEntry, ObjectVocabulary

SLOTS = (("something", None),)


def _vocab(*nouns: str) -> ObjectVocabulary:
    return ObjectVocabulary([ObjectEntry(n, "object", ("ssv2",)) for n in nouns])


def test_pools_are_per_vocabulary_even_when_an_address_is_reused():
    for i in range(40):
        first = _vocab("cup", "pen")
        assert [n for n, _ in first.fitting("ssv2", SLOTS, count=False, plural=False)] == ["cup", "pen"]
        del first
        gc.collect()
        second = _vocab(  # CPython often gives it the address `first` had
            f"box{i}", "lid")
        assert [n for n, _ in second.fitting("ssv2", SLOTS, count=False, plural=False)] == sorted([f"box{i}", "lid"])


def test_fitting_keeps_heads_and_drops_mass_nouns_when_counted():
    vocab = ObjectVocabulary([ObjectEntry("flour", "substance", ("ssv2",)), ObjectEntry("red cup", "object", ("ssv2",))])
    assert vocab.fitting("ssv2", SLOTS, count=False, plural=False) == [("flour", "flour"), ("red cup", "cup")]
    assert vocab.fitting("ssv2", SLOTS, count=True, plural=False) == [("red cup", "cup")]
