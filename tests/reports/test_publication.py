"""The site as a publication: titles and sections, the front page, the build and changes pages,
each run's data.zip, its sources and citation, and what changed in the figures between builds.

One small site is built three times from a copy of the real data package (cheap notebooks):
first publication; one figure changed; a notebook changed (code only, and now failing).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis import paths
from analysis.reports import build as building
from analysis.reports import plan as planning
from analysis.reports import publication
from analysis.reports import site as site_pages

PLAN = """
[site]
url = "https://example.org/test-site"
publisher = "Test & Co"

[[report]]
name = "overview"
notebook = "overview.ipynb"
section = "overview"

[[report]]
name = "topic"
notebook = "topic.ipynb"
description = "One topic <b>bold</b>"

[[report]]
name = "co-{company}"
notebook = "co.ipynb"
title = "{company}: profile"

[report.grid]
company = ["A", "B"]
"""

OLD, NEW = "3000000000", "3100000000"
URL = "https://techcrunch.com/2021/07/china-roundup/"


@dataclass
class Site:
    out: Path
    root: Path
    data: Path
    builds: list[building.BuildSummary]

    def page(self, rel: str) -> str:
        return (self.out / rel).read_text(encoding="utf-8")

    def record(self, name: str) -> dict:
        return json.loads(self.page(f"{name}/run.json"))


def _plan(root: Path, data: Path) -> list[planning.Report]:
    (root / "plan.toml").write_text(PLAN, encoding="utf-8")
    return planning.load_plan(root / "plan.toml", root, data)


def _data(root: Path) -> Path:
    data = root / "data"
    shutil.copytree(paths.PROJECT_ROOT / "data", data)
    sources = data / "sources.csv"
    text = sources.read_text(encoding="utf-8")
    # one source gets a web address (the real package keeps local copies only)
    sources.write_text(text.replace(",2021-07,,TechCrunch,", f",2021-07,{URL},TechCrunch,", 1))
    # the edited figure's source keeps no local copy: its new words are checked as words
    with sources.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    column = rows[0].index("local_copy")
    for row in rows[1:]:
        if row[0] == "tc-2021-07-sensortower":
            row[column] = ""
    with sources.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return data


def _change_one_figure(data: Path) -> None:
    downloads = data / "downloads.csv"
    text = downloads.read_text(encoding="utf-8")
    row = "tiktok-downloads-2021-07,TikTok,ByteDance,downloads,"
    assert row + OLD in text
    text = text.replace(row + OLD, row + NEW, 1)
    # a figure is edited with its words, or validation refuses it (evidence checks)
    old_words, new_words = "TikTok has surpassed 3 billion", "TikTok has surpassed 3.1 billion"
    assert old_words in text
    downloads.write_text(text.replace(old_words, new_words, 1), encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory, notebook_writer) -> Site:
    root = tmp_path_factory.mktemp("publication")
    data = _data(root)
    notebook_writer(root / "overview.ipynb", "x = 1", ["print('overview')"])
    notebook_writer(root / "topic.ipynb", "x = 1", ["print('topic')"])
    notebook_writer(root / "co.ipynb", 'company = "A"', ["print(company)"])
    out = root / "site"
    builds = [building.build(_plan(root, data), out, jobs=2, data_dir=data)]
    first = root / "first"
    shutil.copytree(out, first, symlinks=True)
    _change_one_figure(data)
    builds.append(building.build(_plan(root, data), out, jobs=2, data_dir=data))
    shutil.copytree(out, root / "second", symlinks=True)
    notebook_writer(root / "topic.ipynb", "x = 1", ["raise ValueError('boom')"])
    builds.append(building.build(_plan(root, data), out, jobs=2, data_dir=data))
    return Site(out, root, data, builds)


def test_the_plan_gives_titles_descriptions_and_sections(tmp_path, notebook_writer):
    notebook_writer(tmp_path / "overview.ipynb", "x = 1")
    notebook_writer(tmp_path / "topic.ipynb", "x = 1")
    notebook_writer(tmp_path / "co.ipynb", 'company = "A"')
    reports = {r.name: r for r in _plan(tmp_path, paths.data_dir())}
    assert reports["overview"].title == "overview"  # the notebook's first heading
    assert reports["overview"].section == "overview"
    assert reports["topic"].section == "topics"  # the default
    assert reports["topic"].description == "One topic <b>bold</b>"
    assert reports["co-a"].title == "A: profile" and reports["co-b"].section == "companies"
    assert reports["co-a"].site == planning.Site("https://example.org/test-site", "Test & Co")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('section = "misc"', "section 'misc' must be one of overview, topics, companies"),
        ("subtitle = 'x'", "unknown key(s) subtitle"),
        ("title = 3", "'title' must be a string"),
    ],
)
def test_bad_report_texts_are_refused(tmp_path, notebook_writer, extra, message):
    notebook_writer(tmp_path / "n.ipynb", "x = 1")
    (tmp_path / "plan.toml").write_text(f'[[report]]\nname = "n"\nnotebook = "n.ipynb"\n{extra}\n')
    with pytest.raises(planning.PlanError, match=re.escape(message)):
        planning.load_plan(tmp_path / "plan.toml", tmp_path)


def test_an_unknown_site_key_is_refused(tmp_path):
    (tmp_path / "plan.toml").write_text('[site]\nurl = "https://x.org"\nowner = "me"\n')
    with pytest.raises(planning.PlanError, match=r"unknown key\(s\) in \[site\]: owner"):
        planning.load_plan(tmp_path / "plan.toml", tmp_path)


def test_heading_and_first_paragraph_of_a_notebook():
    title, paragraph = planning.notebook_heading(paths.notebooks_dir() / "04-app-downloads.ipynb")
    assert title == "App downloads: the club past the milestone"
    assert (
        paragraph.startswith("Sensor Tower counts cumulative downloads") and "\n" not in paragraph
    )


def test_data_zip_is_deterministic_and_valid(tmp_path):
    first = publication.data_zip(paths.data_dir())
    copy = tmp_path / "copy"
    shutil.copytree(paths.data_dir(), copy)  # other mtimes, same bytes
    (copy / "companies.csv").touch()
    again = publication.data_zip(copy)
    assert again.content == first.content and again.sha256 == first.sha256
    with zipfile.ZipFile(io.BytesIO(first.content)) as z:
        names = z.namelist()
        assert names == sorted(names) and "datapackage.json" in names
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        z.extractall(tmp_path / "unzipped")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "roundup"), "validate", str(tmp_path / "unzipped")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_report_changes_compares_a_shared_previous_package_once(tmp_path, monkeypatch):
    data = _data(tmp_path)
    archive = publication.data_zip(data).content
    zips = [tmp_path / f"run-{i}.zip" for i in range(3)]  # three reports' last runs, one package
    for path in zips:
        path.write_bytes(archive)
    compared = []
    compare = publication.changes.compare
    monkeypatch.setattr(
        publication.changes, "compare", lambda *a: compared.append(1) or compare(*a)
    )
    previous = {"run_id": "r1", "finished": "2026-11-29T18:45:07+00:00"}
    first = [publication.report_changes(previous, z, data) for z in zips]
    assert len(compared) == 1 and first[0] == first[1] == first[2]
    assert first[0]["figures_changed"] is False
    _change_one_figure(data)  # the data changes: compared again, and the change shows
    again = publication.report_changes(previous, zips[0], data)
    assert len(compared) == 2 and again["figures_changed"] is True


def test_data_as_of_is_the_latest_as_of_of_the_csvs(tmp_path):
    folder = shutil.copytree(paths.data_dir(), tmp_path / "d")
    latest = publication.data_as_of(folder)
    assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", latest)
    with open(folder / "listings.csv", "a", encoding="utf-8") as fh:
        fh.write("")  # unchanged
    assert publication.data_as_of(folder) == latest


def test_citation_text_and_bibtex():
    cited = publication.citation("A & B", "topic", "2026-12-02T10:00:00+00:00",
                                 "https://example.org/s/", "Pub_Co")  # fmt: skip
    assert cited["url"] == "https://example.org/s/topic/"
    assert cited["text"] == "Pub_Co. “A & B”. 2026-12-02. https://example.org/s/topic/"
    assert cited["bibtex"].startswith("@misc{topic-2026-12-02,")
    assert r"title = {A \& B}" in cited["bibtex"] and r"author = {Pub\_Co}" in cited["bibtex"]


# ------------------------------------------------------------------- the built site


def test_titles_are_in_the_page_title_and_header(site):
    for rel, title in (
        ("overview/index.html", "overview"),
        ("co-a/index.html", "A: profile"),
        ("topic/index.html", "topic"),
    ):
        page = site.page(rel)
        assert f"<title>{title}</title>" in page, rel
        assert re.search(rf"<h1>{re.escape(title)}</h1>", page), rel
    assert "One topic &lt;b&gt;bold&lt;/b&gt;" in site.page("topic/index.html")


def test_front_page_has_sections_and_marks_the_failed_report(site):
    page = site.page("index.html")
    sections = re.findall(r'<section id="([a-z]+)">\s*<h2>([^<]+)</h2>', page)
    assert sections == [("overview", "Overview"), ("topics", "Topics"), ("companies", "Companies")]
    assert page.index("A: profile") > page.index('id="companies"') > page.index("One topic")
    topic = json.loads(site.page("index.json"))["reports"][1]
    assert topic["name"] == "topic" and topic["status"] == "failed"
    assert f'href="{topic["href"]}#roundup-error">failed run</a>' in page
    assert 'href="topic/index.html">last good report</a>' in page  # the last good version
    assert "Last run failed" in page and "ValueError: boom" in page
    as_of = publication.data_as_of(site.data)
    assert f"Data as of <strong>{as_of}</strong>" in page
    for link in ("build.html", "changes.html", "datasets.html", "data.zip"):
        assert f'href="{link}"' in page
    index = json.loads(site.page("index.json"))
    assert {"generated", "build", "reports", "data", "changes"} <= set(index)
    assert index["data"]["as_of"] == as_of


def test_build_page_holds_durations_and_run_ids(site):
    page = site.page("build.html")
    for entry in json.loads(site.page("index.json"))["reports"]:
        assert f"<code>{entry['run_id']}</code>" in page
        assert f"{entry['duration_s']:.1f} s" in page
    assert site.builds[-1].build_id in page
    assert "company = &quot;A&quot;" in page


def test_build_page_lists_the_recent_builds_newest_first(site):
    index = json.loads(site.page("index.json"))
    assert [b["id"] for b in index["builds"]] == [b.build_id for b in reversed(site.builds)]
    assert index["builds"][0] == index["build"]
    page = site.page("build.html")
    history = page[page.index('<h2 id="history">Recent builds</h2>') :]
    row = (
        r'<tr><td>(.*?)</td><td class="took">(.*?)</td><td class="ok">(\d+)</td><td(?: class="failed")?>(\d+)'
        r'</td><td class="skipped">(\d+)</td><td class="wide"><code>([^<]+)</code></td></tr>'
    )
    rows = re.findall(row, history)
    assert [r[-1] for r in rows] == [b.build_id for b in reversed(site.builds)]
    for (started, duration, *counts, _), build in zip(rows, index["builds"], strict=True):
        assert started.endswith(" UTC") and re.fullmatch(r"\d+\.\d s|\d+ min \d\d s", duration)
        assert [int(n) for n in counts] == [build["counts"][k] for k in ("ok", "failed", "skipped")]
    assert site.builds[-1].counts()["failed"] == 1  # the third build's failing topic


def test_build_history_keeps_the_last_builds_once_each():
    def build(n: int) -> dict:
        return {"id": f"b{n}", "started": "", "finished": "", "counts": {}}

    assert site_pages.build_history(build(1), {}) == [build(1)]
    old_index = {"build": build(1)}  # written before the history was kept
    assert site_pages.build_history(build(2), old_index) == [build(2), build(1)]
    history: dict = {}
    for n in range(site_pages.BUILD_HISTORY + 3):
        history = {"builds": site_pages.build_history(build(n), history)}
        # the index is rewritten as reports finish: the same build again counts once
        history = {"builds": site_pages.build_history(build(n), history)}
    assert [b["id"] for b in history["builds"]] == [
        f"b{n}" for n in range(site_pages.BUILD_HISTORY + 2, 2, -1)
    ]


def test_each_run_keeps_its_data_package(site):
    for name in ("overview", "co-a", "co-b"):
        record = site.record(name)
        content = (site.out / name / "data.zip").read_bytes()
        run_zip = site.out / name / "runs" / record["run_id"] / "data.zip"
        assert run_zip.read_bytes() == content
        assert record["data"]["sha256"] == hashlib.sha256(content).hexdigest()
        assert record["data"]["bytes"] == len(content)
        assert content == publication.data_zip(site.data).content
        page = site.page(f"{name}/index.html")
        kb = max(1, round(len(content) / 1024))
        assert 'href="data.zip"' in page and f"Data (zip, {kb} KB, sha256" in page
        assert record["data"]["sha256"] in page


def test_sources_and_citation_on_the_report_page(site):
    page = site.page("overview/index.html")
    sources = page[page.index('<section id="sources">') :]
    urls = [s["url"] for s in publication.sources(site.data) if s["url"]]
    assert urls  # the data cites web addresses (one is added when the release has none)
    for url in urls:
        assert f'<a href="{html.escape(url)}">' in sources, url
    assert "TechCrunch" in sources and "Local copy:" in sources
    cite = page[page.index('<section id="cite">') :]
    day = site.record("overview")["finished"][:10]
    assert f"Test &amp; Co. “overview”. {day}. https://example.org/test-site/overview/" in cite
    assert "@misc{overview-" in cite and r"author = {Test \&amp; Co}" in cite


def _change_items(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", li) for li in re.findall(r"<li>(.*?)</li>", html, re.S)]


def test_one_changed_figure_shows_exactly_that_change(site):
    first = site.root / "first"
    assert "First published version." in (first / "overview" / "index.html").read_text()
    second = site.root / "second"
    for name in ("overview", "topic", "co-a", "co-b"):
        page = (second / name / "index.html").read_text(encoding="utf-8")
        section = page[page.index('<section id="changes">') : page.index('<section id="data">')]
        items = _change_items(section)
        assert len(items) == 1, (name, items)
        assert "tiktok-downloads-2021-07" in items[0] and "value" in items[0]
        assert "3.0B downloads (at_least" in items[0] and "→ 3.1B downloads (at_least" in items[0]
    changes = (second / "changes.html").read_text(encoding="utf-8")
    items = _change_items(changes)
    assert len(items) == 1 + 4  # the package, then each report
    assert all("tiktok-downloads-2021-07" in i and "→ 3.1B" in i for i in items)
    front = (second / "index.html").read_text(encoding="utf-8")
    assert front.count(">figures changed</span>") == 4
    index = json.loads((second / "index.json").read_text())
    assert index["changes"]["figures_changed"] is True
    assert [e["figures_changed"] for e in index["reports"]] == [True] * 4


def test_a_code_only_change_says_no_change_in_figures(site):
    record = site.record("topic")  # the last good run (the failed one is under runs/)
    failed = json.loads(site.page("index.json"))["reports"][1]
    page = site.page(failed["href"])
    assert "No change in figures since" in page
    assert failed["figures_changed"] is False
    changes = site.page("changes.html")
    assert "No change in figures." in changes
    assert "No change in figures in any report." in changes
    assert site.page("index.html").count(">figures changed</span>") == 0
    assert record["changes"]["figures_changed"] is True  # the good run of the second build
