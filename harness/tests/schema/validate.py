#!/usr/bin/env python3
"""Validates scenario files against `mynatap schema` with a real JSON-Schema validator.

Usage: validate.py SCHEMA.json FILE...   Prints `valid FILE` or `invalid FILE: why` per file.
YAML is read as serde_yaml reads it (YAML 1.2 core: a date or a time stays text).
"""
import json
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    pass


# YAML 1.1 reads `2026-04-01` as a date; YAML 1.2 (serde_yaml, editors' YAML servers) as text.
Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    document = yaml.load(open(path, encoding="utf-8-sig"), Loader=Yaml12Loader)
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
    if errors:
        where = ".".join(str(part) for part in errors[0].path)
        print(f"invalid {path}: {where}: {errors[0].message[:300]}")
    else:
        print(f"valid {path}")
