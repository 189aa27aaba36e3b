"""Label spaces with more than one head (EPIC-Kitchens' verb and noun).

A dataset with several classification heads lists its classes as one flat list whose names carry
the head as a prefix, ``"<head>:<class>"`` (``"verb:take"``, ..., ``"noun:tap"``, ...), heads in
order, and labels each video with one class index per head (a tuple, collated to ``(B, H)``). The
flat list travels where a single-head class list travels (``classes.txt``, checkpoints, the
weights' ``class_names``); :func:`split_heads` recovers the heads. A list counts as multi-head only
when every name has a prefix and there are at least two distinct prefixes, so ordinary class names
containing a colon are not split.
"""

from __future__ import annotations

HEAD_SEPARATOR = ":"


def prefix_heads(heads: dict[str, list[str]]) -> list[str]:
    """The flat class list of ``{head: class names}``, heads in the given order."""
    return [f"{head}{HEAD_SEPARATOR}{name}" for head, names in heads.items() for name in names]


def split_heads(class_names: list[str]) -> list[tuple[str, list[str]]]:
    """``[(head, class names), ...]`` of a flat list; ``[("", class_names)]`` for a single head."""
    heads: dict[str, list[str]] = {}
    for name in class_names:
        head, sep, rest = name.partition(HEAD_SEPARATOR)
        if not sep:
            return [("", list(class_names))]
        if head in heads and list(heads)[-1] != head:
            return [("", list(class_names))]
        heads.setdefault(head, []).append(rest)
    return list(heads.items()) if len(heads) > 1 else [("", list(class_names))]


def head_sizes(class_names: list[str]) -> tuple[int, ...]:
    """Classes per head: ``(K,)`` for a single head, e.g. ``(125, 352)`` for EPIC-Kitchens-55."""
    return tuple(len(names) for _, names in split_heads(class_names))


def num_classes_of(class_names: list[str]) -> int | tuple[int, ...]:
    """What a model builder's ``num_classes`` takes: an int, or one size per head."""
    sizes = head_sizes(class_names)
    return sizes[0] if len(sizes) == 1 else sizes
