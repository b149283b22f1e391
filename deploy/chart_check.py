"""Render the Kubernetes chart (deploy/chart/) and validate every object it makes.

Rendering uses Helm's own engine (the helm-python-sdk wheel bundles Helm's Go SDK: no helm
binary is needed). Each object is checked strictly (unknown fields are errors) against the
Kubernetes API's schemas of the oldest and the newest release the chart supports
(kubernetes-validate), and KEDA's objects against deploy/schemas/, written from KEDA's
documented CRD fields. Run by scripts/check_chart.sh in CI; ops/tests/test_chart.py uses
`render` to check what the chart says against the code.

    python deploy/chart_check.py            # defaults and deploy/chart/ci/*.yaml
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "chart"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
#: The chart's kubeVersion floor (Chart.yaml) and the newest schemas kubernetes-validate has.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")
KEDA_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject.schema.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-triggerauthentication.schema.json",
}


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's rule for values files: maps merge key by key, anything else replaces."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def values_from(files: Iterable[Path] = (), overrides: dict[str, Any] | None = None):
    values: dict[str, Any] = {}
    for path in files:
        values = merged(values, yaml.safe_load(Path(path).read_text()) or {})
    return merged(values, overrides or {})


def render(
    files: Iterable[Path] = (),
    overrides: dict[str, Any] | None = None,
    *,
    release: str = "imageclassifier",
    namespace: str = "classifier",
) -> list[dict[str, Any]]:
    """The chart's objects for these values files (then `overrides`), as `helm template`
    would print them. Raises helm_python's errors for values the schema refuses and for a
    template's `fail` (a missing secret, a placeholder key)."""
    import helm_python

    values = values_from(files, overrides)
    with helm_python.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        manifests = chart.render(values, name=release, namespace=namespace, is_install=True)
    objects = []
    for name, text in sorted(manifests.items()):
        if name.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def _keda_validator(schema_file: str):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    def load(name: str) -> dict[str, Any]:
        return json.loads((SCHEMAS / name).read_text())

    registry = Registry().with_resource(
        "keda-object-meta", Resource.from_contents(load("keda-object-meta.schema.json"))
    )
    schema = load(schema_file)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


def problems(objects: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One line per schema violation: '<Kind>/<name> (<schema>): <what>'."""
    import kubernetes_validate

    for obj in objects:
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
        where = f"{kind}/{name}"
        schema_file = KEDA_SCHEMAS.get((obj.get("apiVersion"), kind))
        if schema_file is not None:
            for error in _keda_validator(schema_file).iter_errors(obj):
                path = ".".join(str(part) for part in error.absolute_path)
                yield f"{where} (KEDA {kind}): {path}: {error.message}"
            continue
        if str(obj.get("apiVersion", "")).endswith("keda.sh/v1alpha1"):
            yield f"{where}: no schema for KEDA kind {kind}"
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                yield f"{where} (Kubernetes {version}): {path}: {error.message}"
            except kubernetes_validate.SchemaNotFoundError as error:
                yield f"{where} (Kubernetes {version}): {error.message}"


def lint_findings() -> list[str]:
    """`helm lint --strict`'s warnings and errors (infos, like a missing icon, pass)."""
    import helm_python

    report = helm_python.lint(CHART, strict=True)
    return [
        f"lint {message['path']}: {message['error']}"
        for message in report.get("messages", [])
        if message.get("severity", 0) >= 2
    ] + [f"lint: {error}" for error in report.get("errors") or []]


def main() -> int:
    cases = {"default values": []} | {
        f"default values + {path.relative_to(CHART)}": [path]
        for path in sorted((CHART / "ci").glob("*.yaml"))
    }
    failed = 0
    found = lint_findings()
    for line in found:
        print(line)
    failed += bool(found)
    for label, files in cases.items():
        objects = render(files)
        found = list(problems(objects))
        for line in found:
            print(f"{label}: {line}")
        kinds = sorted({obj["kind"] for obj in objects})
        verdict = "INVALID" if found else "valid"
        print(
            f"chart, {label}: {len(objects)} objects ({', '.join(kinds)}) {verdict} against "
            f"Kubernetes {' and '.join(KUBERNETES_VERSIONS)} (strict) and KEDA's schemas"
        )
        failed += bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
