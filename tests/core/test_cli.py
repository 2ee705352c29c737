"""The `crm` command line, run in-process against a throwaway install whose
plugins look pip-installed (a dist-info folder with entry points)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import openpyxl
import pytest
from sqlalchemy import create_engine, inspect

from crmcore.alembic_branches import CORE_MIGRATIONS, Branch, head

CORE_HEAD = head(Branch("core", CORE_MIGRATIONS))


def tables(db_file):
    return set(inspect(create_engine(f"sqlite:///{db_file}")).get_table_names())


def test_init_creates_instance_and_twice_changes_nothing(crm):
    (crm.instance).mkdir()
    (crm.instance / "plugins.toml").write_text('enabled = ["alpha"]\n')
    first = crm("init")
    assert first.exit_code == 0, first.output
    applied = ", ".join(f"core_{n:04}" for n in range(1, 9))
    assert f"core: applied {applied}" in first.output
    assert "alpha: applied alpha_0001" in first.output
    assert (crm.instance / "secret_key").exists()
    key = (crm.instance / "secret_key").read_text()
    assert crm("users", "create", "--email", "a@example.com", "--role", "admin",
               "--password-stdin", input="a long password\n").exit_code == 0
    second = crm("init")
    assert second.exit_code == 0
    assert "core: up to date" in second.output and "alpha: up to date" in second.output
    assert (crm.instance / "secret_key").read_text() == key
    assert crm("tokens", "create", "--email", "a@example.com").output.startswith("crm_")


def test_plugins_list_shows_version_state_requirements_and_hooks(crm):
    crm.instance.mkdir()
    (crm.instance / "plugins.toml").write_text('enabled = ["alpha", "beta"]\n')
    out = crm("plugins", "list").output
    assert "alpha 1.2.3  [enabled]  alpha test plugin" in out
    assert "beta 1.2.3  [enabled]" in out and "requires: alpha" in out
    assert "badmig 1.2.3  [disabled]" in out
    assert "hooks: crm_after_commit, crm_api_schemas, crm_app_created, crm_blueprints" in out


def test_enabling_a_plugin_migrates_only_its_branch_and_disabling_keeps_data(crm):
    crm.instance.mkdir()
    (crm.instance / "plugins.toml").write_text("enabled = []\n")
    assert crm("init").exit_code == 0
    assert "alpha_item" not in tables(crm.db_file)

    refused = crm("plugins", "enable", "beta")
    assert refused.exit_code == 1 and "'beta' requires alpha (not enabled)" in refused.output

    enabled = crm("plugins", "enable", "alpha")
    assert enabled.exit_code == 0, enabled.output
    assert "alpha: applied alpha_0001" in enabled.output and "core:" not in enabled.output
    assert "alpha_item" in tables(crm.db_file)
    current = crm("db", "current").output
    assert f"core: {CORE_HEAD} (up to date)" in current
    assert "alpha: alpha_0001 (up to date)" in current

    assert crm("plugins", "enable", "beta").exit_code == 0
    blocked = crm("plugins", "disable", "alpha")
    assert blocked.exit_code == 1 and "beta require(s) it" in blocked.output
    assert crm("plugins", "disable", "beta").exit_code == 0
    done = crm("plugins", "disable", "alpha")
    assert "its tables and data are kept" in done.output
    assert "alpha_item" in tables(crm.db_file)
    assert "[disabled]" in crm("plugins", "list").output.split("alpha 1.2.3")[1].splitlines()[0]


def test_unknown_plugin_in_environment_lists_the_known_ones(crm):
    result = crm("db", "upgrade", CRM_PLUGINS="alpha,nosuch")
    assert result.exit_code == 1
    assert "CRM_PLUGINS names unknown plugin(s) nosuch" in result.output
    assert "installed plugins are: alpha, badmig, beta, broken" in result.output


def test_a_broken_plugin_is_reported_by_name_and_plugins_list_still_works(crm):
    result = crm("db", "upgrade", CRM_PLUGINS="broken")
    assert result.exit_code == 1
    assert "plugin 'broken' failed to import" in result.output and "Traceback" not in result.output
    listing = crm("plugins", "list", CRM_PLUGINS="broken")
    assert listing.exit_code == 0 and "broken 1.2.3  [enabled]" in listing.output
    assert crm("--help", CRM_PLUGINS="broken").exit_code == 0


def test_failed_plugin_migration_leaves_last_good_revision(crm):
    result = crm("db", "upgrade", CRM_PLUGINS="badmig")
    assert result.exit_code == 1
    assert "migration of branch 'badmig' failed" in result.output
    assert "last good revision (badmig_0001)" in result.output
    assert "badmig 0001" not in result.output
    found = tables(crm.db_file)
    assert "badmig_thing" in found and "badmig_half" not in found
    assert "badmig: badmig_0001 (behind (head badmig_0002))" in crm(
        "db", "current", CRM_PLUGINS="badmig").output


@pytest.mark.parametrize(("url", "message"), [
    ("nonsense", "CRM_DATABASE_URL cannot be parsed"),
    ("mysql://x@localhost/db", "crmcore supports sqlite and postgresql"),
    ("postgresql://nobody@127.0.0.1:1/none", "cannot reach the database postgresql+psycopg://"),
])
def test_bad_database_urls_get_a_clear_message(crm, url, message):
    result = crm("db", "upgrade", CRM_DATABASE_URL=url, CRM_PLUGINS="none")
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("url, reason", [
    ("sqlite:////nonexistent-dir/crm.sqlite3", "unable to open database file"),
    ("postgresql://postgres@127.0.0.1:5432/crm_no_such_database",
     'database "crm_no_such_database" does not exist')])
def test_a_database_that_cannot_be_reached_is_named_not_a_traceback(crm, url, reason):
    for args in (["imports", "list"], ["users", "create", "--email", "a@example.com",
                                       "--role", "admin", "--password-stdin"]):
        result = crm(*args, input="a long password\n", CRM_DATABASE_URL=url,
                     CRM_PLUGINS="none")
        assert result.exit_code == 1, result.output
        assert "Error: Cannot reach the database (" in result.output and reason in result.output
        assert "Traceback" not in result.output


def test_users_create_reports_bad_fields_and_duplicates(crm):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    bad = crm("users", "create", "--email", "not-an-email", "--role", "wizard",
              "--password-stdin", input="short\n", CRM_PLUGINS="none")
    assert bad.exit_code == 1
    assert "email:" in bad.output and "password:" in bad.output
    ok = crm("users", "create", "--email", "S@Example.com", "--role", "sales",
             "--password-stdin", input="a long password\n", CRM_PLUGINS="none")
    assert "created user s@example.com (sales)" in ok.output
    role = crm("users", "create", "--email", "x@example.com", "--role", "wizard",
               "--password-stdin", input="a long password\n", CRM_PLUGINS="none")
    assert "role: Unknown role; choose one of: admin, manager, sales." in role.output
    dup = crm("users", "create", "--email", "s@example.com", "--role", "sales",
              "--password-stdin", input="a long password\n", CRM_PLUGINS="none")
    assert dup.exit_code == 1 and "already exists" in dup.output


def test_users_set_password_for_one_who_forgot_theirs(crm):
    from crmcore.auth.passwords import verify_password

    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    assert crm("users", "create", "--email", "s@example.com", "--role", "sales",
               "--password-stdin", input="a long password\n", CRM_PLUGINS="none").exit_code == 0
    done = crm("users", "set-password", "--email", "S@example.com", "--password-stdin",
               input="another long one\n", CRM_PLUGINS="none")
    assert done.exit_code == 0, done.output
    assert "new password set for s@example.com" in done.output
    with sqlite3.connect(crm.db_file) as db:
        stored, version = db.execute("SELECT password_hash, session_version FROM users").fetchone()
    assert verify_password(stored, "another long one") and version == 2
    short = crm("users", "set-password", "--email", "s@example.com", "--password-stdin",
                input="short\n", CRM_PLUGINS="none")
    assert short.exit_code == 1 and "Use at least 8 characters." in short.output
    unknown = crm("users", "set-password", "--email", "nobody@example.com", "--password-stdin",
                  input="another long one\n", CRM_PLUGINS="none")
    assert unknown.exit_code == 1 and "No user with the email" in unknown.output
    assert "Traceback" not in short.output + unknown.output


def test_arguments_the_terminal_could_not_decode_are_refused(crm, tmp_path):
    """Bytes that are not UTF-8 reach Python as surrogates, which no driver
    encodes: a name holding them was a traceback from deep in the command."""
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    for args in (["--name", "Jos\udce9"], ["--name=Jos\udce9"]):
        bad = crm("users", "create", "--email", "j@example.com", "--role", "sales", *args,
                  "--password-stdin", input="a long password\n", CRM_PLUGINS="none")
        assert bad.exit_code == 2
        assert f"{os.fsencode(args[-1])!r} is not valid UTF-8 text" in bad.output
    # A file named in another encoding passes that check (it names a file), but
    # an import records where its file is, to resume it, and no column stores that.
    latin = tmp_path / os.fsdecode(b"caf\xe9.csv")
    latin.write_text("full_name\r\nAda\r\n")
    refused = crm("leads", "import", str(latin), CRM_PLUGINS="none")
    assert refused.exit_code == 1
    assert "The file's path is not valid UTF-8" in refused.output
    assert "rename the file" in refused.output


def test_plugin_commands_join_the_cli(crm):
    assert "alpha-hello" in crm("--help", CRM_PLUGINS="alpha").output
    assert crm("alpha-hello", CRM_PLUGINS="alpha").output == "hello from alpha\n"
    assert "alpha-hello" not in crm("--help", CRM_PLUGINS="none").output


def test_demo_loads_once_and_prints_how_to_sign_in(crm):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    first = crm("demo", "--count", "20", CRM_PLUGINS="none")
    assert first.exit_code == 0, first.output
    assert "loaded 4 users, 20 leads and 20 contacts" in first.output
    assert "admin@example.com" in first.output and "password:" in first.output
    again = crm("demo", "--count", "20", CRM_PLUGINS="none")
    assert "already loaded" in again.output


def test_db_current_tells_an_empty_database_from_an_up_to_date_one(crm):
    out = crm("db", "current", CRM_PLUGINS="none").output
    assert out == f"core: none (not migrated; head {CORE_HEAD})\n"


def test_commands_on_a_database_not_set_up_say_to_run_init(crm, tmp_path):
    csv_file = tmp_path / "leads.csv"
    csv_file.write_text("full_name,email\nAda,ada@example.com\n")
    for args in (["imports", "list"], ["leads", "import", str(csv_file)],
                 ["tokens", "create", "--email", "a@example.com"]):
        result = crm(*args, CRM_PLUGINS="none")
        assert result.exit_code == 1, result.output
        assert "The database is not set up for this command" in result.output
        assert "run `crm init`" in result.output and "Traceback" not in result.output


def test_leads_import_dry_run_report_and_revert(crm, tmp_path):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    good = tmp_path / "good.csv"
    good.write_text("Full name,Email\nAda,ada@x.org\nGrace,grace@x.org\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("Full name,Email\n,nope\n")
    dry = crm("leads", "import", "--dry-run", str(good), CRM_PLUGINS="none")
    assert "2 rows: would create 2, update 0 and skip 0; 0 problem(s)" in dry.output
    refused = crm("leads", "import", str(bad), CRM_PLUGINS="none")
    assert refused.exit_code == 1
    assert "row 2, column Email: “nope”: An email address must have an @-sign." in refused.output
    assert "row 2, column Full name: Missing data for required field." in refused.output
    done = crm("leads", "import", str(good), CRM_PLUGINS="none")
    assert "import #2 done: Created 2, updated 0, skipped 0" in done.output
    again = crm("leads", "import", "--on-duplicate", "skip", str(good), CRM_PLUGINS="none")
    assert "Created 0, updated 0, skipped 2" in again.output
    assert "#2 leads good.csv [done]" in crm("imports", "list", CRM_PLUGINS="none").output
    newest, older = crm("imports", "list", "--limit", "1", CRM_PLUGINS="none").output.splitlines()
    assert newest.startswith("#3 leads good.csv [done]")
    assert older == "Older imports: crm imports list --before 3"
    assert crm("imports", "list", "--limit", "1", "--before", "3", CRM_PLUGINS="none"
               ).output.startswith("#2 leads good.csv [done]")
    assert crm("imports", "list", "--before", "1", CRM_PLUGINS="none").output == (
        "No older imports.\n")
    assert "Invalid value for '--limit'" in crm("imports", "list", "--limit", "0",
                                                 CRM_PLUGINS="none").output
    with sqlite3.connect(crm.db_file) as db:  # as a killed import leaves it
        db.execute("UPDATE import_jobs SET status = 'running', progress_at = NULL WHERE id = 2")
    assert "#2 leads good.csv [running, stopped]" in crm("imports", "list",
                                                         CRM_PLUGINS="none").output
    listed = crm("imports", "problems", "1", CRM_PLUGINS="none")  # the refused one
    assert listed.exit_code == 0 and listed.output.splitlines() == [
        "row,column,problem", "2,Email,“nope”: An email address must have an @-sign.",
        "2,Full name,Missing data for required field."]
    assert crm("imports", "problems", "2", CRM_PLUGINS="none").output.splitlines() == [
        "row,column,problem"]
    assert "No such import." in crm("imports", "problems", "99", CRM_PLUGINS="none").output
    reverted = crm("imports", "revert", "2", CRM_PLUGINS="none")
    assert "2 of 2 records reverted" in reverted.stderr
    assert "deleted 2 record(s)" in reverted.stdout
    assert "already reverted" in crm("imports", "revert", "2", CRM_PLUGINS="none").output


def test_leads_import_says_how_far_its_check_has_read(crm, tmp_path, monkeypatch):
    """QA: 15 seconds of silence while 900,000 rows were checked."""
    from crmcore.services import imports

    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    monkeypatch.setattr(imports, "HEARTBEAT_SECONDS", 0)
    path = tmp_path / "many.csv"
    path.write_text("Full name\n" + "".join(f"P{i}\n" for i in range(4500)))
    done = crm("leads", "import", str(path), CRM_PLUGINS="none")
    assert "import #1: checked 2000 rows\nimport #1: checked 4000 rows\n" in done.stderr
    assert "import #1: 2000 of 4500 rows done" in done.stderr


def test_leads_import_of_another_tools_export_joins_names_and_list_columns(crm, tmp_path):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    export = tmp_path / "export.csv"
    export.write_text(
        "First Name,Last Name,Company Name,Email,Email 2,Phone,Mobile Phone,Lead Source\n"
        "Ada,Lovelace,Engines,ada@x.org,ada@home.org,+12025550143,,fair\n"
        ",Hopper,Navy,grace@x.org,,,(202) 555-0144,web\n"
        ",,Nobody,nobody@x.org,NOBODY@x.org,,,\n")
    refused = crm("leads", "import", str(export), CRM_PLUGINS="none")
    assert refused.exit_code == 1
    assert "row 4, column Email + Email 2: Listed twice: nobody@x.org." in refused.output
    assert "row 4, column First Name + Last Name: Missing data for required field." in (
        refused.output)
    done = crm("leads", "import", "--skip-bad-rows", str(export), CRM_PLUGINS="none")
    assert "Created 2, updated 0, skipped 0, left out 1 bad row(s)." in done.output
    with sqlite3.connect(crm.db_file) as db:
        assert db.execute("SELECT full_name, company, emails, phones, source FROM leads "
                          "ORDER BY id").fetchall() == [
            ("Ada Lovelace", "Engines", '["ada@x.org","ada@home.org"]', '["+12025550143"]',
             "fair"),
            ("Hopper", "Navy", '["grace@x.org"]', '["+12025550144"]', "web")]


def test_leads_import_keeps_a_phones_extension(crm, tmp_path):
    """QA: "(650) 253-0000 ext. 42" was imported as +16502530000."""
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    path = tmp_path / "leads.csv"
    path.write_text("Name,Phone,Mobile phone\n"
                    "Ada,(650) 253-0000 ext. 42,\n"
                    # As the CRM exports it: ";" separates numbers, ";ext=" starts an extension.
                    "Bob,+16502530000;ext=43; +1 202 555 0143,\n"
                    "Cy,+16502530000,ext=44\n")
    refused = crm("leads", "import", str(path), CRM_PLUGINS="none")
    assert refused.exit_code == 1
    assert "row 4, column Mobile phone: “ext=44”: Not a valid phone number." in refused.output
    done = crm("leads", "import", "--skip-bad-rows", str(path), CRM_PLUGINS="none")
    assert "Created 2, updated 0, skipped 0, left out 1 bad row(s)." in done.output
    with sqlite3.connect(crm.db_file) as db:
        assert db.execute("SELECT full_name, phones, phone_key FROM leads ORDER BY id"
                          ).fetchall() == [
            ("Ada", '["+16502530000;ext=42"]', "+16502530000;ext=42"),
            ("Bob", '["+16502530000;ext=43","+12025550143"]', "+16502530000;ext=43")]


def test_leads_import_says_a_header_that_does_not_fit_once(crm, tmp_path):
    """The mapping's problems and the header's own, told apart to the API,
    are the same one message here: none is repeated under its option."""
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    path = tmp_path / "leads.csv"
    path.write_text("Full name,emails,Shoe size\nAda,ada@x.org,44\n")
    refused = crm("leads", "import", "--dry-run", "--map", "emails=nonexistent",
                  "--map", "Mobile=phones", str(path), CRM_PLUGINS="none")
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: The header does not fit: column 'emails' matches no field (mapped to unknown "
        "field 'nonexistent'); column 'Shoe size' matches no field; the mapping names column "
        "'Mobile', which the file does not have. Fields: company, emails, first_name, "
        "full_name, last_name, location, login, owner, partner, phones, source, stage, tags.\n")


def test_leads_import_reads_the_separator_the_file_uses_or_the_one_given(crm, tmp_path):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    semicolons = tmp_path / "excel.csv"
    semicolons.write_text("Name;Email;Company\nAnn;ann@x.org;Acme, Inc\n", encoding="cp1252")
    done = crm("leads", "import", "--encoding", "cp1252", str(semicolons), CRM_PLUGINS="none")
    assert "Created 1, updated 0" in done.output, done.output
    tabs = tmp_path / "export.tsv"
    tabs.write_text("Name\tEmail\nBob\tbob@x.org\n")
    refused = crm("leads", "import", "--delimiter", "semicolon", str(tabs), CRM_PLUGINS="none")
    assert refused.exit_code == 1
    assert "column 'Name\\tEmail' matches no field (it holds '\\t'" in refused.output
    assert "Created 1" in crm("leads", "import", "--delimiter", "tab", str(tabs),
                              CRM_PLUGINS="none").output
    with sqlite3.connect(crm.db_file) as db:
        assert db.execute("SELECT full_name, company FROM leads ORDER BY id").fetchall() == [
            ("Ann", "Acme, Inc"), ("Bob", "")]


def test_leads_import_reads_an_excel_workbooks_first_sheet_or_the_one_named(crm, tmp_path):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    usage = " ".join(crm("leads", "import", "--help").output.split())
    assert "Excel workbook (.xlsx), whose first sheet is read unless --sheet names" in usage
    book = openpyxl.Workbook()
    book.active.append(["Name", "Email", "Phone"])
    book.active.append(["Ada", "ada@x.org", "+1 202 555 0143"])
    book.active.append(["Bob", "bob@", None])
    book.save(tmp_path / "leads.xlsx")
    refused = crm("leads", "import", str(tmp_path / "leads.xlsx"), CRM_PLUGINS="none")
    assert refused.exit_code == 1
    assert "row 3, column Email: “bob@”: There must be something after the @-sign." in (
        refused.output)
    done = crm("leads", "import", "--skip-bad-rows", str(tmp_path / "leads.xlsx"),
               CRM_PLUGINS="none")
    assert "Created 1, updated 0, skipped 0, left out 1 bad row(s)." in done.output
    with sqlite3.connect(crm.db_file) as db:
        assert db.execute("SELECT full_name, phones FROM leads").fetchall() == [
            ("Ada", '["+12025550143"]')]
    book.create_sheet("Leads 2025", 0).append(["Name", "Email"])
    book["Leads 2025"].append(["Cy", "cy@x.org"])
    book.save(tmp_path / "leads.xlsx")
    wrong = crm("leads", "import", "--dry-run", "--sheet", "Leads 2026",
                str(tmp_path / "leads.xlsx"), CRM_PLUGINS="none")
    assert (wrong.exit_code, wrong.output.splitlines()) == (1, [
        "Error: The workbook has no sheet “Leads 2026”; its sheets of rows: “Leads 2025”, "
        "“Sheet”."])
    assert "Created 1," in crm("leads", "import", "--sheet", "leads 2025",
                               str(tmp_path / "leads.xlsx"), CRM_PLUGINS="none").output
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    old = crm("leads", "import", str(tmp_path / "old.xls"), CRM_PLUGINS="none")
    assert old.exit_code == 1
    assert old.output.splitlines() == [
        "import #4: The file is an Excel 97-2003 workbook (.xls) or a workbook saved with a "
        "password: save it as .xlsx (without a password) or as CSV."]


def test_imports_resume_continues_a_killed_import_once(crm, tmp_path):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    more = tmp_path / "more.csv"
    more.write_text("Full name,Email\nAda,ada@x.org\nGrace,grace@x.org\n")
    with sqlite3.connect(crm.db_file) as db:  # as an import killed before its first batch
        db.execute("INSERT INTO import_jobs (record_type, filename, path, options, status, "
                   "total_rows, processed_rows, created_count, updated_count, skipped_count, "
                   "error_count, errors, message, created_at, reverted_count) VALUES "
                   "('lead', 'more.csv', ?, '{}', 'running', 2, 0, 0, 0, 0, 0, '[]', '', "
                   "CURRENT_TIMESTAMP, 0)", (str(more),))
    assert "#1 leads more.csv [running, stopped]" in crm("imports", "list",
                                                         CRM_PLUGINS="none").output
    resumed = crm("imports", "resume", "1", CRM_PLUGINS="none")
    assert "import #1 done: Created 2, updated 0, skipped 0" in resumed.output
    again = crm("imports", "resume", "1", CRM_PLUGINS="none")
    assert again.exit_code == 1 and "did not stop half-way; nothing to resume" in again.output



def test_an_import_killed_while_writing_resumes_without_writing_a_row_twice(crm, tmp_path):
    """A real ``crm leads import`` killed (SIGKILL: nothing of it runs after)
    once its first batch is in, then ``crm imports resume``: each good row is
    written once and the bad ones are left out, although they shift where the
    batches of good rows end."""
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    size = 20_000
    rows = [f"{'' if i % 7 == 3 else f'P{i}'},{f'p{i}@x.org' if i % 2 else ''}"
            for i in range(size)]
    big = tmp_path / "big.csv"
    big.write_text("Full name,Email\n" + "\n".join(rows) + "\n")
    good = sorted(f"P{i}" for i in range(size) if i % 7 != 3)
    bad = sum(1 for i in range(size) if i % 7 == 3 and i % 2)  # the others are blank lines
    env = {**os.environ, "CRM_INSTANCE_PATH": str(crm.instance),
           "CRM_DATABASE_URL": f"sqlite:///{crm.db_file}", "CRM_PLUGINS": "none"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from crmcore.cli import main; main()", "leads", "import",
         "--skip-bad-rows", str(big)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # the check's lines, then one per batch written
        if "rows done" in line:
            break
    proc.kill()
    proc.wait()
    with sqlite3.connect(crm.db_file) as db:
        status, written = db.execute("SELECT status, created_count FROM import_jobs").fetchone()
        assert status == "running" and 0 < written < len(good), "killed half-way"
        # As if its process had been gone for longer than STALLED_AFTER.
        db.execute("UPDATE import_jobs SET progress_at = datetime('now', '-11 minutes')")
    resumed = crm("imports", "resume", "1", CRM_PLUGINS="none")
    assert f"import #1 done: Created {len(good)}, updated 0, skipped 0, left out " \
           f"{bad} bad row(s)" in resumed.output, resumed.output
    with sqlite3.connect(crm.db_file) as db:
        assert sorted(n for (n,) in db.execute("SELECT full_name FROM leads")) == good

def test_hook_crm_demo_data_adds_plugin_demos_on_every_run(crm):
    assert crm("init", CRM_PLUGINS="alpha").exit_code == 0
    first = crm("demo", "--count", "5", CRM_PLUGINS="alpha")
    assert first.exit_code == 0, first.output
    assert "  alpha demo: ask admin@example.com" in first.output
    again = crm("demo", "--count", "5", CRM_PLUGINS="alpha")
    assert "already loaded" in again.output and "alpha demo" in again.output
    engine = create_engine(f"sqlite:///{crm.db_file}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alpha_item").scalar() == 1


def test_commands_that_do_not_migrate_start_without_alembic(tmp_path):
    # Every `crm` start registers the core commands; importing Alembic for
    # them cost a seventh of a second on each.
    code = ("import sys\nfrom crmcore.cli import main\nsys.argv = ['crm', 'imports', 'list']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('alembic' in sys.modules)")
    env = {**os.environ, "CRM_INSTANCE_PATH": str(tmp_path / "instance"),
           "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite3'}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "False", out


def test_leads_import_matches_rows_by_id_when_asked(crm, tmp_path):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    (tmp_path / "leads.csv").write_text("Name,Email\nAda,ada@x.org\n")
    assert "Created 1," in crm("leads", "import", str(tmp_path / "leads.csv"),
                               CRM_PLUGINS="none").output
    (tmp_path / "edited.csv").write_text("id,Name,Email\n1,Ada,ada@new.org\n")
    refused = crm("leads", "import", "--match-by", "id", str(tmp_path / "edited.csv"),
                  CRM_PLUGINS="none")
    assert "row 2, column id: The lead #1 is already in the CRM." in refused.output
    done = crm("leads", "import", "--match-by", "id", "--on-duplicate", "update",
               str(tmp_path / "edited.csv"), CRM_PLUGINS="none")
    assert "Created 0, updated 1," in done.output
    with sqlite3.connect(crm.db_file) as db:
        assert db.execute("SELECT emails, email_key FROM leads").fetchall() == [
            ('["ada@new.org"]', "ada@new.org")]
        assert db.execute("SELECT email FROM email_keys").fetchall() == [("ada@new.org",)]


def test_a_driver_error_met_while_stopping_on_ctrl_c_is_no_unreachable_database(
        crm, tmp_path, monkeypatch):
    """QA (PostgreSQL): Ctrl-C in a batch's COPY left the driver mid-command;
    rolling back failed "another command is already in progress", and the
    CLI blamed CRM_DATABASE_URL."""
    from sqlalchemy.exc import OperationalError

    from crmcore.services import imports

    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    good = tmp_path / "good.csv"
    good.write_text("Full name\nAda\n")

    def cut_short(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise OperationalError(None, None, Exception(
                "sending query failed: another command is already in progress")) from None

    monkeypatch.setattr(imports, "run", cut_short)
    result = crm("leads", "import", str(good), CRM_PLUGINS="none")
    assert result.exit_code == 130 and "import #1 queued:" in result.output
    assert "Cannot reach the database" not in result.output
    monkeypatch.setattr(imports, "resume", cut_short)
    result = crm("imports", "resume", "1", CRM_PLUGINS="none")  # the same, elsewhere
    assert result.exit_code == 1 and "Aborted!" in result.output
    assert "Cannot reach the database" not in result.output
    with pytest.raises(OperationalError) as caught:
        cut_short()
    assert imports.stopped_by(caught.value) == "its process was stopped"


def test_ctrl_c_during_an_import_says_how_to_go_on(crm, tmp_path, monkeypatch):
    """QA: Ctrl-C printed only "Aborted!", though the job may be resumed or
    reverted at once."""
    from crmcore.services.imports import writing as import_write

    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    big = tmp_path / "big.csv"
    big.write_text("Full name\n" + "".join(f"P{i}\n" for i in range(2500)))
    real, calls = import_write._write_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(import_write, "_write_batch", interrupted)
    result = crm("leads", "import", str(big), CRM_PLUGINS="none")
    assert result.exit_code == 130
    assert ("import #1 failed: Stopped after 2000 rows: its process was stopped. Resume it "
            "or revert it. (`crm imports resume 1` or `crm imports revert 1`)") in result.output
    monkeypatch.setattr(import_write, "_write_batch", real)
    assert "import #1 done" in crm("imports", "resume", "1", CRM_PLUGINS="none").output
