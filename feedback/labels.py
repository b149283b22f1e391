"""What a corrected label may be: one of the answering model's class names, spelled its way.

The built-ins answer with the 1,000 ImageNet class names; a registry version with its own
labels (`registry`). Plain data and string rules, no TensorFlow: the web, the API, the legacy
endpoint and the review queue all go through `canonicalise_label` (re-exported by
`feedback.services`), given the prediction's label set (`labels_for_prediction`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from classifier.labels import IMAGENET_LABELS, display_label  # plain data, no TensorFlow


def _key(text: str) -> str:
    return " ".join(display_label(text).split())


@dataclass(frozen=True)
class LabelSet:
    """One model's class names, with the lookups that map typed text onto them."""

    labels: tuple[str, ...]
    by_spelling: dict[str, str] = field(repr=False, compare=False, hash=False)
    by_folded: dict[str, str] = field(repr=False, compare=False, hash=False)
    suggestions: tuple[str, ...] = field(repr=False, compare=False, hash=False)

    @classmethod
    def of(cls, labels: tuple[str, ...]) -> LabelSet:
        # Exact spelling first ("Cardigan" the dog, "cardigan" the sweater), then any case.
        folded: dict[str, str] = {}
        for label in labels:
            folded.setdefault(_key(label).casefold(), label)
        return cls(
            labels=labels,
            by_spelling={_key(label): label for label in labels},
            by_folded=folded,
            suggestions=tuple(sorted({display_label(lb) for lb in labels}, key=str.casefold)),
        )

    @property
    def is_imagenet(self) -> bool:
        return self.labels == IMAGENET_LABELS


IMAGENET = LabelSet.of(IMAGENET_LABELS)
CANONICAL_LABELS: frozenset[str] = frozenset(IMAGENET_LABELS)
LABEL_SUGGESTIONS: tuple[str, ...] = IMAGENET.suggestions


@lru_cache(maxsize=64)
def _label_set(labels: tuple[str, ...]) -> LabelSet:
    return LabelSet.of(labels)


def labels_for_version(version_id: int | None) -> LabelSet:
    """The label set of a registry version (built-ins and no version: ImageNet)."""
    if version_id is None:
        return IMAGENET
    from registry.selectors import version_labels  # a model: imported once Django is set up

    labels = version_labels(version_id)
    return _label_set(labels) if labels else IMAGENET


def labels_for_prediction(prediction) -> LabelSet:
    return labels_for_version(getattr(prediction, "model_version_id", None))


@dataclass(frozen=True)
class CanonicalLabel:
    """`label` is one of the model's class names or ""; `other` keeps free text naming none."""

    label: str
    other: str

    @property
    def is_canonical(self) -> bool:
        return bool(self.label)


def canonicalise_label(text: str, labels: LabelSet = IMAGENET) -> CanonicalLabel:
    """Map what someone typed to the model's class name.

    Case, spaces/underscores and repeated whitespace do not matter. Text naming no class is
    kept (whitespace tidied) as an "other" label: people may photograph things the model
    does not know, and those answers are reported apart instead of polluting accuracy.
    """
    key = _key(text or "")
    if not key:
        return CanonicalLabel(label="", other="")
    label = labels.by_spelling.get(key) or labels.by_folded.get(key.casefold())
    if label:
        return CanonicalLabel(label=label, other="")
    return CanonicalLabel(label="", other=" ".join((text or "").split()))


def rank_in_top(label: str, top: list[dict] | None) -> int | None:
    """Where `label` sits in a prediction's top-k answers (1 = the top answer), else None.

    Stored with each verdict so "was the right answer in the top 5?" is a column the
    dashboard counts, not JSON it parses per row.
    """
    if not label:
        return None
    for position, entry in enumerate(top or [], start=1):
        if entry.get("label") == label:
            return position
    return None
