"""The curated data package: it loads typed, it is valid, and it holds the article's figures."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data import Package

RESOURCES = [
    "sources",
    "companies",
    "downloads",
    "funding_rounds",
    "stakes",
    "user_bases",
    "regulatory_events",
    "listings",
]


def test_package_is_valid():
    assert Package.open().validate() == []


def test_catalog_lists_every_resource_with_row_counts():
    cat = Package.open().catalog()
    assert list(cat["name"]) == RESOURCES
    assert (cat["rows"] > 0).all()
    assert cat["title"].str.len().min() > 0


@pytest.mark.parametrize("name", RESOURCES)
def test_every_row_names_a_known_source(name):
    df = Package.open().load(name)
    sources = set(Package.open().load("sources")["source_id"])
    assert df["source_id"].notna().all()
    assert set(df["source_id"]) <= sources


def test_types_follow_the_schema():
    fr = Package.open().load("funding_rounds")
    assert str(fr["amount_usd"].dtype) == "Float64"
    assert str(fr["company"].dtype).startswith("str") or fr["company"].dtype == "string"
    assert str(Package.open().load("user_bases")["users"].dtype) == "Int64"
    assert str(Package.open().load("listings")["overseas"].dtype) == "boolean"
    ev = Package.open().load("regulatory_events")
    assert ev["date_start"].dtype.kind == "M"
    assert ev.loc[ev["event_id"] == "security-review-rules-2020-04", "date_end"].iloc[
        0
    ] == pd.Timestamp("2020-04-30")


def test_unknown_is_empty_not_zero():
    fr = Package.open().load("funding_rounds").set_index("round_id")
    assert pd.isna(fr.loc["banma-2018", "amount_usd"])
    assert pd.isna(fr.loc["banma-2021", "valuation_usd"])
    stakes = Package.open().load("stakes").set_index("stake_id")
    assert pd.isna(stakes.loc["softbank-didi", "stake_pct"])


def test_unknown_dataset_name_is_a_clear_key_error():
    with pytest.raises(KeyError, match="no dataset named 'funding'.*funding_rounds"):
        Package.open().load("funding")


# The article's figures, as curated (source: TechCrunch China Roundup, Jul 2021).


def _row(name, key, value):
    df = Package.open().load(name)
    rows = df[df[key] == value]
    assert len(rows) == 1, f"{name}: expected one row with {key}={value!r}"
    return rows.iloc[0]


def test_tiktok_downloads_and_spending_are_lower_bounds_from_sensor_tower():
    dl = _row("downloads", "record_id", "tiktok-downloads-2021-07")
    assert (dl["value"], dl["qualifier"], dl["unit"]) == (3e9, "at_least", "downloads")
    assert dl["source_id"] == "tc-2021-07-sensortower"
    sp = _row("downloads", "record_id", "tiktok-spending-2021-07")
    assert (sp["value"], sp["qualifier"], sp["unit"]) == (2.5e9, "at_least", "USD")
    earlier = Package.open().load("downloads")
    assert set(earlier.loc[earlier["company"] == "Facebook", "app"]) == {
        "WhatsApp",
        "Messenger",
        "Facebook",
        "Instagram",
    }
    assert Package.open().load("sources").set_index("source_id").loc[
        "tc-2021-07-sensortower", "producer"
    ] == ("Sensor Tower")


def test_banma_rounds_users_and_valuation():
    r21 = _row("funding_rounds", "round_id", "banma-2021")
    assert (r21["amount_usd"], r21["qualifier"]) == (460e6, "exact")
    r18 = _row("funding_rounds", "round_id", "banma-2018")
    assert (r18["valuation_usd"], r18["valuation_qualifier"], r18["as_of"]) == (
        1e9,
        "at_least",
        "2018",
    )
    users = _row("user_bases", "record_id", "banma-users-2021-07")
    assert (users["users"], users["qualifier"]) == (3_000_000, "exact")


def test_tencent_meituan_stake():
    s = _row("stakes", "stake_id", "tencent-meituan-2021-07")
    assert (s["stake_pct"], s["investment_usd"], s["qualifier"]) == (17.2, 400e6, "exact")


def test_didi_users_are_almost_500_million_and_ipo_4_billion():
    u = _row("user_bases", "record_id", "didi-annual-users-2021-07")
    assert (u["users"], u["qualifier"], u["metric"]) == (500_000_000, "approximate", "annual_users")
    ipo = _row("listings", "listing_id", "didi-new-york")
    assert (ipo["amount_raised_usd"], ipo["venue"], bool(ipo["overseas"])) == (
        4e9,
        "New York",
        True,
    )
    assert pd.isna(ipo["listing_date"])  # the article gives no date


def test_review_actions_and_the_draft_threshold():
    ev = Package.open().load("regulatory_events")
    reviews = ev[ev["event_type"] == "review_opened"].set_index("company")["date"].to_dict()
    assert reviews == {
        "Didi": "2021-07-02",
        "Full Truck Alliance": "2021-07-05",
        "Boss Zhipin": "2021-07-05",
    }
    removal = _row("regulatory_events", "event_id", "didi-app-removal-2021-07-04")
    assert removal["date"] == "2021-07-04"
    draft = _row("regulatory_events", "event_id", "draft-review-rules-2021-07-10")
    assert draft["threshold_users"] == 1_000_000


def test_backers_named_by_the_article():
    st = Package.open().load("stakes")
    pairs = set(zip(st["investor"], st["company"], strict=True))
    assert {
        ("SoftBank", "Didi"),
        ("SoftBank", "Full Truck Alliance"),
        ("Alibaba", "Banma"),
        ("SAIC Motor", "Banma"),
    } <= pairs


def test_no_figure_without_a_qualifier_and_no_qualifier_without_a_figure():
    pkg = Package.open().descriptor()
    for res in pkg["resources"]:
        df = Package.open().load(res["name"])
        for field in res["schema"]["fields"]:
            fig = field.get("qualifies")
            if fig:
                assert (df[fig].notna() == df[field["name"]].notna()).all(), (res["name"], fig)


def test_frictionless_validates_the_package():
    from frictionless import Package as FrictionlessPackage
    from frictionless import system

    with system.use_context(trusted=True):
        report = FrictionlessPackage(str(Package.open().descriptor_path)).validate()
    errors = [e.message for task in report.tasks for e in task.errors] + [
        e.message for e in report.errors
    ]
    assert report.valid, errors[:5]


def test_frictionless_catches_what_the_schema_forbids(data_copy):
    from frictionless import Package as FrictionlessPackage
    from frictionless import system

    stakes = data_copy / "stakes.csv"
    stakes.write_text(stakes.read_text().replace(",17.2,", ",117.2,"))
    with system.use_context(trusted=True):
        report = FrictionlessPackage(str(data_copy / "datapackage.json")).validate()
    assert not report.valid
    assert any(
        "stake_pct" in e.message or "117.2" in e.message for t in report.tasks for e in t.errors
    )


def test_every_numeric_field_has_a_unit_and_the_package_a_licence():
    pkg = Package.open().descriptor()
    assert pkg["licenses"]
    for res in pkg["resources"]:
        for field in res["schema"]["fields"]:
            if field["type"] in ("number", "integer"):
                assert field.get("unit"), (res["name"], field["name"])


def test_data_dictionary_describes_every_field():
    dd = Package.open().dictionary()
    pkg = Package.open().descriptor()
    assert len(dd) == sum(len(r["schema"]["fields"]) for r in pkg["resources"])
    row = dd[(dd["dataset"] == "funding_rounds") & (dd["field"] == "amount_usd")].iloc[0]
    assert (row["type"], row["unit"], row["constraints"]) == ("number", "USD", ">= 0")
    assert dd.loc[(dd["dataset"] == "stakes") & (dd["field"] == "company"), "key"].iloc[0] == (
        "-> companies.company"
    )
    assert (dd["rows"] > 0).all()
