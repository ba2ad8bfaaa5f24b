"""Which fields of a Table Schema are figures, and which qualifier and evidence go with each.

Read from the schema alone, by name (pure: no pandas, no I/O); used by the evidence checks of
:mod:`analysis.data.checks` and the figure diff of :mod:`analysis.reports.changes`.

* A figure is every field of type ``number`` or ``integer`` (``amount_usd``, ``users``).
* Its qualifier: ``<stem>_qualifier`` where the figure is named ``<stem>`` or ``<stem>_<unit>``
  (``valuation_usd`` -> ``valuation_qualifier``); otherwise the plain ``qualifier`` goes with
  the row's first figure that has no qualifier of its own; a figure left over has none.
* Its evidence: ``<stem>_evidence`` beside ``<stem>_qualifier``, ``evidence`` beside
  ``qualifier``; a plain ``evidence`` left over goes with the first figure without evidence
  (``threshold_users``, which has no qualifier).
"""

from __future__ import annotations

__all__ = ["FIGURE_TYPES", "evidence_fields", "figure_fields"]

#: Table Schema types whose fields are figures.
FIGURE_TYPES = frozenset({"number", "integer"})


def figure_fields(schema: dict) -> dict[str, str | None]:
    """The schema's figures in field order: ``{figure field: its qualifier field or None}``.

    Pairing (see the module docstring): ``<stem>_qualifier`` for ``<stem>`` or
    ``<stem>_<unit>``; else the plain ``qualifier`` for the first figure without its own.

    >>> figure_fields({"fields": [{"name": "amount_usd", "type": "number"},
    ...     {"name": "qualifier"}, {"name": "valuation_usd", "type": "number"},
    ...     {"name": "valuation_qualifier"}]})
    {'amount_usd': 'qualifier', 'valuation_usd': 'valuation_qualifier'}
    """
    names = [f.get("name") for f in schema.get("fields", [])]
    figures = [f["name"] for f in schema.get("fields", []) if f.get("type") in FIGURE_TYPES]
    pairs: dict[str, str | None] = {}
    for name in figures:
        stems = (name, name.rsplit("_", 1)[0]) if "_" in name else (name,)
        pairs[name] = next((f"{s}_qualifier" for s in stems if f"{s}_qualifier" in names), None)
    if "qualifier" in names:
        plain = next((n for n in figures if pairs[n] is None), None)
        if plain is not None:
            pairs[plain] = "qualifier"
    return pairs


def evidence_fields(schema: dict) -> dict[str, str]:
    """The schema's evidenced figures in field order: ``{figure field: its evidence field}``.

    Figures without an evidence field are left out (a schema without evidence gives ``{}``).

    >>> evidence_fields({"fields": [{"name": "amount_usd", "type": "number"},
    ...     {"name": "qualifier"}, {"name": "evidence"}, {"name": "valuation_usd",
    ...     "type": "number"}, {"name": "valuation_qualifier"}, {"name": "valuation_evidence"}]})
    {'amount_usd': 'evidence', 'valuation_usd': 'valuation_evidence'}
    """
    names = {f.get("name") for f in schema.get("fields", [])}
    pairs: dict[str, str] = {}
    for figure, qualifier in figure_fields(schema).items():
        if qualifier:
            evidence = qualifier.removesuffix("qualifier") + "evidence"
            if evidence in names:
                pairs[figure] = evidence
    if "evidence" in names and "evidence" not in pairs.values():
        plain = next((f for f in figure_fields(schema) if f not in pairs), None)
        if plain is not None:
            pairs[plain] = "evidence"
    return {f: pairs[f] for f in figure_fields(schema) if f in pairs}
