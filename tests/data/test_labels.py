"""Flat class lists with head prefixes (EPIC-Kitchens verb + noun)."""

from vidaction.data.labels import head_sizes, num_classes_of, prefix_heads, split_heads


def test_prefixed_heads_round_trip():
    names = prefix_heads({"verb": ["take", "put"], "noun": ["tap", "cup", "pan"]})
    assert names == ["verb:take", "verb:put", "noun:tap", "noun:cup", "noun:pan"]
    assert split_heads(names) == [("verb", ["take", "put"]), ("noun", ["tap", "cup", "pan"])]
    assert head_sizes(names) == (2, 3) and num_classes_of(names) == (2, 3)


def test_ordinary_names_stay_one_head():
    assert head_sizes(["run", "jump"]) == (2,) and num_classes_of(["run", "jump"]) == 2
    assert head_sizes(["a:x", "a:y"]) == (2,)
    assert head_sizes(["a:x", "b", "c:z"]) == (3,)
    assert head_sizes(["a:x", "b:y", "a:z"]) == (3,)
