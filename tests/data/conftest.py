"""Fixtures of the data tests: a tiny package with evidence columns and a local copy; the seed
article's local copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SOURCE_TEXT = """Banma recently secured $460 million in funding.
Tencent is now holding 17.2% of Meituan after an investment of about $400 million.
"""

_FIELDS = {
    "sources": ["source_id", "url", "local_copy"],
    "funding_rounds": ["round_id", "amount_usd", "qualifier", "evidence", "valuation_usd",
                       "valuation_qualifier", "valuation_evidence", "source_id"],
}  # fmt: skip
_ROWS = {
    "sources": "src,https://example.org/a?b=1&c=<x>,{copy}\n",
    "funding_rounds": (
        "banma-2021,460000000,exact,recently secured $460 million in funding,,,,src\n"
        "tencent-2021,400000000,approximate,an investment of about $400 million,,,,src\n"
    ),
}
_TYPES = {"amount_usd": "number", "valuation_usd": "number"}
_UNITS = {"amount_usd": "USD", "valuation_usd": "USD"}


def _schema(name: str) -> dict:
    fields = []
    for f in _FIELDS[name]:
        field = {"name": f, "type": _TYPES.get(f, "string")}
        if f in _UNITS:
            field["unit"] = _UNITS[f]
        if f.endswith("qualifier"):
            field["constraints"] = {"enum": ["exact", "approximate", "at_least", "at_most"]}
        fields.append(field)
    schema: dict = {"fields": fields, "primaryKey": [_FIELDS[name][0]]}
    if name != "sources":
        schema["foreignKeys"] = [
            {"fields": "source_id", "reference": {"resource": "sources", "fields": "source_id"}}
        ]
    return schema


@pytest.fixture
def evidence_data(tmp_path: Path) -> Path:
    """``tmp/project/data``: sources + funding_rounds with evidence; the source's local copy
    at ``tmp/shared/sources/a.txt``, named relative to a folder above the data folder."""
    copy = tmp_path / "shared" / "sources" / "a.txt"
    copy.parent.mkdir(parents=True)
    copy.write_text(SOURCE_TEXT, encoding="utf-8")
    data = tmp_path / "project" / "data"
    data.mkdir(parents=True)
    resources = []
    for name, fields in _FIELDS.items():
        rows = _ROWS[name].replace("{copy}", "shared/sources/a.txt")
        (data / f"{name}.csv").write_text(",".join(fields) + "\n" + rows, encoding="utf-8")
        resources.append({"name": name, "path": f"{name}.csv", "schema": _schema(name)})
    (data / "datapackage.json").write_text(
        json.dumps({"name": "tiny", "resources": resources}, indent=1), encoding="utf-8"
    )
    return data


SEED = "shared/sources/techcrunch-china-roundup-data-security-2021-07.txt"  # beside the checkout


@pytest.fixture
def seed_article() -> Path:
    """The seed article's local copy (sources.csv names it relative to a folder above the
    checkout); the test is skipped where it is not on this machine."""
    for folder in Path(__file__).resolve().parents[2:]:
        if (folder / SEED).is_file():
            return folder / SEED
    pytest.skip("the seed article's local copy is not on this machine")
