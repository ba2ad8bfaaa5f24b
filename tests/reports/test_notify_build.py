"""``roundup build`` with notifications: receivers from the command line, ``$ROUNDUP_NOTIFY``, a
file and the plan's ``[notify]``, a real build with a failing report, local receivers (SMTP and
HTTP on 127.0.0.1), and a planted password that must never be written anywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import test_notify as receivers
from test_notify import SECRET, _free_port, _text, json_url, mail_url
from typer.testing import CliRunner

from analysis.cli import app
from analysis.reports import publication

runner = CliRunner()
smtp, http = receivers.smtp, receivers.http  # the receivers on 127.0.0.1 (fixtures)

pytestmark = [
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]


@pytest.fixture
def failing_plan(tmp_path: Path, make_notebook) -> Path:
    make_notebook(
        "profile.ipynb",
        "fail = False",
        ["if fail:\n    raise RuntimeError('boom in the profile')\nprint('done')"],
    )
    path = tmp_path / "plan.toml"
    path.write_text(
        'notebooks = "notebooks"\n'
        '[[report]]\nname = "good"\nnotebook = "profile.ipynb"\n'
        '[[report]]\nname = "broken"\nnotebook = "profile.ipynb"\nparameters = {fail = true}\n',
        encoding="utf-8",
    )
    return path


def test_a_failed_report_reaches_every_receiver_once_and_no_secret_is_written(
    failing_plan,
    tmp_path,
    tiny_data,
    smtp,
    http,
    capfd,
):
    inbox, smtp_port = smtp
    posts, http_port = http
    dead = f"json://hook:{SECRET}@127.0.0.1:{_free_port()}/dead"  # nothing listens there
    url_file = tmp_path / "receivers.txt"
    url_file.write_text(f"# team hook\n{json_url(http_port)}/file\n", encoding="utf-8")
    url_file.chmod(0o600)
    with failing_plan.open("a", encoding="utf-8") as plan:
        plan.write(f'[notify]\nurls = ["{json_url(http_port)}/plan"]\n')
    out = tmp_path / "site"
    result = runner.invoke(
        app,
        [
            "build", "--plan", str(failing_plan), "--out", str(out), "--data", str(tiny_data),
            "-j", "1", "--no-pdf", "--json",
            "--notify", mail_url(smtp_port), "--notify", dead, "--notify-file", str(url_file),
        ],
        env={"ROUNDUP_NOTIFY": f"{json_url(http_port)}/env"},
    )  # fmt: skip
    assert result.exit_code == 1, (
        result.output
    )  # a failed report; the dead receiver changes nothing
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"ok": 1, "failed": 1, "skipped": 0}

    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert "broken" in mail["Subject"]
    assert "broken: RuntimeError: boom in the profile" in _text(mail)
    paths = sorted(p["path"] for p in posts)
    assert paths == ["/roundup/notify/env", "/roundup/notify/file", "/roundup/notify/plan"]
    for post in posts:
        assert "broken" in post["json"]["title"]
        assert "broken: RuntimeError: boom in the profile" in post["json"]["message"]
    assert "could not notify json://" in result.stderr and "/dead" in result.stderr

    captured = capfd.readouterr()
    for text in (result.stdout, result.stderr, captured.out, captured.err):
        assert SECRET not in text
    written = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "run.json" for p in written) and (out / "index.json").is_file()
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path

    listed = runner.invoke(app, ["list", "--plan", str(failing_plan), "--json"])
    assert listed.exit_code == 0 and SECRET not in listed.output


def test_an_unusable_receiver_is_a_usage_error_before_any_kernel(failing_plan, tmp_path):
    out = tmp_path / "site"
    args = ["build", "--plan", str(failing_plan), "--out", str(out), "--notify"]
    result = runner.invoke(app, [*args, f"nosuchscheme://user:{SECRET}@host"])
    assert result.exit_code == 2
    assert "Apprise cannot use" in result.output and SECRET not in result.output
    assert not out.exists()


def test_a_bad_notify_table_in_the_plan_is_a_usage_error(failing_plan, tmp_path):
    with failing_plan.open("a", encoding="utf-8") as plan:
        plan.write('[notify]\nurls = "json://x"\n')
    result = runner.invoke(app, ["build", "--plan", str(failing_plan), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "[notify] urls must be a list" in result.output


def test_on_change_tells_the_figures_changed_since_the_published_data(
    failing_plan, tmp_path, tiny_data, http
):
    posts, http_port = http
    out = tmp_path / "site"
    published = tmp_path / "published"  # the data package the site's last build published
    shutil.copytree(tiny_data, published)
    rows = (published / "companies.csv").read_text(encoding="utf-8").replace("Beta,20", "Beta,7")
    (published / "companies.csv").write_text(rows, encoding="utf-8")
    out.mkdir()
    (out / publication.DATA_ZIP).write_bytes(publication.data_zip(published).content)
    result = runner.invoke(
        app,
        [
            "build", "good", "--plan", str(failing_plan), "--out", str(out),
            "--data", str(tiny_data), "-j", "1", "--no-pdf", "--notify-on-change",
            "--notify", f"{json_url(http_port)}/change",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [post] = posts
    assert "figures changed (1)" in post["json"]["title"]
    assert "companies Beta employees" in post["json"]["message"]
