"""What a corrected label may be: one of the 1,000 ImageNet class names, spelled the model's way.

Plain data and string rules, no TensorFlow: the web, the API, the legacy endpoint and the
review queue all go through `canonicalise_label` (re-exported by `feedback.services`).
"""

from __future__ import annotations

from dataclasses import dataclass

from classifier.labels import IMAGENET_LABELS  # plain data, no TensorFlow

CANONICAL_LABELS: frozenset[str] = frozenset(IMAGENET_LABELS)


def readable_label(label: str) -> str:
    """`great_white_shark` → `great white shark`: how people read and type a class name."""
    return label.replace("_", " ").strip()


def _key(text: str) -> str:
    return " ".join(readable_label(text).split())


# Exact spelling first ("Cardigan" the dog, "cardigan" the sweater), then any case.
_BY_SPELLING = {_key(label): label for label in IMAGENET_LABELS}
_BY_FOLDED: dict[str, str] = {}
for _label in IMAGENET_LABELS:
    _BY_FOLDED.setdefault(_key(_label).casefold(), _label)

LABEL_SUGGESTIONS: tuple[str, ...] = tuple(
    sorted({readable_label(label) for label in IMAGENET_LABELS}, key=str.casefold)
)


@dataclass(frozen=True)
class CanonicalLabel:
    """`label` is an ImageNet class name or ""; `other` keeps free text that names no class."""

    label: str
    other: str

    @property
    def is_canonical(self) -> bool:
        return bool(self.label)


def canonicalise_label(text: str) -> CanonicalLabel:
    """Map what someone typed to the model's class name.

    Case, spaces/underscores and repeated whitespace do not matter. Text naming no class is
    kept (whitespace tidied) as an "other" label: people may photograph things ImageNet lacks,
    and those answers are reported apart instead of polluting accuracy.
    """
    key = _key(text or "")
    if not key:
        return CanonicalLabel(label="", other="")
    label = _BY_SPELLING.get(key) or _BY_FOLDED.get(key.casefold())
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
