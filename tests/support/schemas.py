"""Schema checks: OpenRPC documents against the official meta-schema, values against a document's schemas.

The OpenRPC meta-schema is npm's `@open-rpc/meta-schema` (a JavaScript module, read through
`node`); it refers to the JSON Schema meta-schema of `https://meta.json-schema.tools`, which
`@json-schema-tools/meta-schema` ships as a file. Both come from `make node_modules/.installed`,
so nothing is fetched from the network while checking.
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7, DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
_READ_OPENRPC_META_SCHEMA = "JSON.stringify(require('@open-rpc/meta-schema').openrpcDocument)"


@functools.cache
def openrpc_validator() -> Draft7Validator:
    """A validator of OpenRPC documents against the official meta-schema."""
    assert (NODE_MODULES / "@open-rpc/meta-schema").is_dir(), "run `make node_modules/.installed` first"
    printed = subprocess.run(
        ["node", "-p", _READ_OPENRPC_META_SCHEMA], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    meta_schema = json.loads(printed)
    json_schema = DRAFT7.create_resource(
        json.loads((NODE_MODULES / "@json-schema-tools/meta-schema/schema.json").read_text())
    )
    # The meta-schema names it both with and without the trailing slash.
    registry: Registry[Any] = Registry().with_resources(
        [("https://meta.json-schema.tools", json_schema), ("https://meta.json-schema.tools/", json_schema)]
    )
    return Draft7Validator(meta_schema, registry=registry)


def openrpc_problems(document: Any) -> list[str]:
    """Why `document` is not a valid OpenRPC document (empty when it is)."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in openrpc_validator().iter_errors(document)
    ]


def misfits(document: dict[str, Any], at: Sequence[str | int], value: Any) -> list[str]:
    """Why `value` does not fit the schema at path `at` of `document`, whose `$ref`s point into it."""
    pointer = "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in at)
    registry: Registry[Any] = Registry().with_resource("urn:document", DRAFT202012.create_resource(document))
    validator = Draft202012Validator({"$ref": f"urn:document#/{pointer}"}, registry=registry)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(value)]
