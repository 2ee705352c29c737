"""Benchmarks: each figure is a ratio to a floor measured in the same run, on the
same data, as the median of several runs with the spread shown.

    .venv/bin/python bench/run.py            # 100k-row files, 200k leads listed
    .venv/bin/python bench/run.py --full     # 1M-row files, 1M leads listed

PostgreSQL runs use ``--pg-url`` (default: the local test database's ``public``
schema, which they empty first); ``--no-pg`` skips them.

It prints the results and writes them into bench/README.md between the
``<!-- results -->`` markers.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CRM = Path(sys.executable).parent / "crm"


def in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a fresh process. Work that takes much memory runs there,
    because a child started from a large process reports that size as its peak."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def spread(times: list[float]) -> tuple[float, float, float]:
    return statistics.median(times), min(times), max(times)


def timed(fn: Callable[..., object], runs: int,
          setup: Callable[[], object] | None = None) -> tuple[float, float, float]:
    """(median, min, max) seconds of ``runs`` calls. ``setup``, untimed, runs
    before each call and passes it what it returns."""
    times = []
    for _ in range(runs):
        ready = () if setup is None else (setup(),)
        start = time.perf_counter()
        fn(*ready)
        times.append(time.perf_counter() - start)
    return spread(times)


def interleaved(fns: Sequence[Callable[[], object]], runs: int
                ) -> list[tuple[float, float, float]]:
    """:func:`timed` for several functions measured in turn, run after run, so
    that a busy moment on a shared host slows the floor and the subject alike."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, kept in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            kept.append(time.perf_counter() - start)
    return [spread(t) for t in times]


def fmt(result: tuple[float, float, float], unit: float = 1.0, suffix: str = "s") -> str:
    median, low, high = (x * unit for x in result)
    return f"{median:.3f} {suffix} (range {low:.3f}-{high:.3f})"


def make_csv(path: Path, rows: int, phones: bool) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Full name", "Email", "Company", "Source"]
                        + (["Phone"] if phones else []))
        for i in range(rows):
            writer.writerow([f"Person {i}", f"person.{i}@example{i % 97}.com",
                             f"Company {i % 500}", "web"]
                            + ([f"+1202555{i % 10000:04d}"] if phones else []))


def make_workbook(csv_path: Path, path: Path) -> None:
    """The CSV's rows as a workbook the way Excel saves one: text in one shared
    table, a sheet dimension (openpyxl's normal mode writes both; its write-only
    mode, which the export uses, writes text inline)."""
    import openpyxl

    # In memory whole (openpyxl's normal mode): run it with in_child().
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Leads"
    with open(csv_path, newline="") as fh:
        for row in csv.reader(fh):
            sheet.append(row)
    book.save(path)


def sqlite_floor(path: Path, workdir: Path) -> None:
    """CSV parse + raw sqlite3 executemany into a table with a unique email index."""
    db_path = workdir / "floor.sqlite3"
    db_path.unlink(missing_ok=True)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE leads (id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
               "company TEXT, source TEXT)")
    db.execute("CREATE UNIQUE INDEX ix_email ON leads (email)")
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        db.executemany("INSERT INTO leads (name, email, company, source) VALUES (?, ?, ?, ?)",
                       (row[:4] for row in reader))
    db.commit()
    db.close()


def compile_bytecode() -> None:
    """Compile crmcore and its built-in plugins as installing a wheel does, so
    that no run pays for compiling them (a checkout run with
    PYTHONDONTWRITEBYTECODE set would pay it on every start)."""
    import compileall

    import crmcore_plugins

    import crmcore

    for folder in (*crmcore.__path__, *crmcore_plugins.__path__):
        compileall.compile_dir(folder, quiet=1)


SCHEMA_COLUMNS = ("full_name", "name_key", "sound_key", "login", "partner", "location",
                  "source", "score", "stage_id", "emails", "email_key", "phones", "company",
                  "tags", "custom", "plugin_data", "version")


def schema_rows(path: Path, stage_id: int) -> Iterator[list[tuple[object, ...]]]:
    """The CSV's rows as the columns of the CRM's leads table, 2,000 at a time."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        while chunk := list(islice(reader, 2000)):
            # The lowered name stands in for both keys: one value a name, as theirs.
            yield [(name, name.lower(), name.lower(), "", "", "", source, 0, stage_id,
                    json.dumps([email]), email, "[]", company, "[]", "{}", "{}", 1)
                   for name, email, company, source, *_ in chunk]


def schema_floor(path: Path, url: str) -> None:
    """The CRM's own leads and email key tables, with every index, key and
    foreign key, filled straight from the CSV by the driver in committed
    batches of 2,000: what the schema costs before anything is validated,
    checked or scored."""
    columns = ", ".join(SCHEMA_COLUMNS)
    keys = ("INSERT INTO email_keys (email, record_type, record_id) "
            "SELECT email_key, 'lead', id FROM leads WHERE id > {}")
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url) as conn:
            stage_id = conn.execute("SELECT min(id) FROM lead_stages WHERE kind = 'open'"
                                    ).fetchone()[0]
            for rows in schema_rows(path, stage_id):
                top = conn.execute("SELECT coalesce(max(id), 0) FROM leads").fetchone()[0]
                with conn.cursor() as cur, cur.copy(f"COPY leads ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                conn.execute(keys.format("%s"), (top,))
                conn.commit()
        return
    db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA synchronous=NORMAL")
    stage_id = db.execute("SELECT min(id) FROM lead_stages WHERE kind = 'open'").fetchone()[0]
    marks = ", ".join("?" for _ in SCHEMA_COLUMNS)
    for rows in schema_rows(path, stage_id):
        db.execute("BEGIN IMMEDIATE")
        top = db.execute("SELECT coalesce(max(id), 0) FROM leads").fetchone()[0]
        db.executemany(f"INSERT INTO leads ({columns}) VALUES ({marks})", rows)  # noqa: S608
        db.execute(keys.format("?"), (top,))
        db.execute("COMMIT")
    db.close()


def crm_env(workdir: Path, url: str | None = None) -> dict[str, str]:
    env = {**os.environ, "CRM_INSTANCE_PATH": str(workdir / "instance"), "CRM_PLUGINS": "none"}
    env["CRM_DATABASE_URL"] = url or f"sqlite:///{workdir / 'instance' / 'crm.sqlite3'}"
    return env


def fresh_instance(workdir: Path, url: str | None = None) -> dict[str, str]:
    env = crm_env(workdir, url)
    if url and url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        subprocess.run(["rm", "-rf", str(workdir / "instance")], check=True)
    subprocess.run([str(CRM), "init"], env=env, check=True, capture_output=True)
    return env


def crm_peak(args: list[str], env: dict[str, str]) -> int:
    """Run ``crm ARGS``; returns its peak memory (KiB, as Linux reports it)."""
    proc = subprocess.Popen([str(CRM), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.communicate()
    if status:
        raise RuntimeError(f"crm {' '.join(args)} failed with status {status}")
    return usage.ru_maxrss


def crm_import(path: Path, env: dict[str, str]) -> int:
    return crm_peak(["leads", "import", str(path)], env)


def update_line(path: Path, runs: int, env: dict[str, str], rows: int,
                created: tuple[float, float, float]) -> str:
    """The file imported again onto the leads it created, with every row's
    source changed, so that each run updates every lead."""
    times = []
    for run in range(runs):
        changed = path.with_name(f"{path.stem}-update.csv")
        with open(path, newline="") as src, open(changed, "w", newline="") as out:
            reader, writer = csv.reader(src), csv.writer(out)
            writer.writerow(next(reader))
            writer.writerows([*row[:3], f"fair {run}", *row[4:]] for row in reader)
        start = time.perf_counter()
        crm_peak(["leads", "import", "--on-duplicate", "update", str(changed)], env)
        times.append(time.perf_counter() - start)
        changed.unlink()
    result = spread(times)
    return (f"- the same file again with every row changed, `--on-duplicate update` onto "
            f"the leads it created: {fmt(result)}, {rows / result[0]:,.0f} rows/s, "
            f"**{result[0] / created[0]:.1f}x** the import that created them")


def raw_delete(url: str) -> float:
    """Seconds the bare driver takes to delete import #1's leads and their email
    keys, in one transaction that is then rolled back."""
    statements = ("DELETE FROM email_keys WHERE record_type = 'lead' AND record_id IN "
                  "(SELECT id FROM leads WHERE import_id = 1)",
                  "DELETE FROM leads WHERE import_id = 1")
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url) as conn:
            start = time.perf_counter()
            for statement in statements:
                conn.execute(statement)
            took = time.perf_counter() - start
            conn.rollback()
        return took
    db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("BEGIN IMMEDIATE")
    start = time.perf_counter()
    for statement in statements:
        db.execute(statement)
    took = time.perf_counter() - start
    db.execute("ROLLBACK")
    db.close()
    return took


def bench_revert(rows: int, runs: int, workdir: Path, out: list[str],
                 url: str | None = None) -> None:
    """``crm imports revert`` of a whole import vs the bare driver's DELETEs."""
    path = workdir / f"leads-{rows}-False.csv"
    floors, reverts, peaks = [], [], []
    for _ in range(runs):
        env = fresh_instance(workdir, url)
        crm_import(path, env)
        floors.append(raw_delete(env["CRM_DATABASE_URL"]))
        start = time.perf_counter()
        peaks.append(crm_peak(["imports", "revert", "1"], env))
        reverts.append(time.perf_counter() - start)

    floor, revert = spread(floors), spread(reverts)
    database = "PostgreSQL" if url else "SQLite"
    out += [f"### `crm imports revert` of the {rows:,}-lead import ({database})\n",
            f"- the bare driver deleting the same leads and email keys (rolled back): "
            f"{fmt(floor)}",
            f"- crm (the leads, their keys and timelines in batches, a hook call and a "
            f"commit per batch): {fmt(revert)}; **ratio {revert[0] / floor[0]:.1f}x**; "
            f"peak memory {max(peaks) / 1024:.0f} MB", ""]


def bench_import(rows: int, runs: int, workdir: Path, out: list[str]) -> None:
    out.append(f"### `crm leads import` of {rows:,} leads (SQLite)\n")
    for phones in (False, True):
        path = workdir / f"leads-{rows}-{phones}.csv"
        make_csv(path, rows, phones)
        floor = timed(lambda path=path: sqlite_floor(path, workdir), runs)
        peaks: list[int] = []
        result = timed(lambda env, path=path, peaks=peaks: peaks.append(crm_import(path, env)),
                       runs, setup=lambda: fresh_instance(workdir))
        label = "with phone numbers (E.164 validation)" if phones else "name, email, company"
        out += [
            f"- {label}: floor (csv + sqlite3 executemany, unique email index) "
            f"{fmt(floor)}; crm {fmt(result)}; **ratio {result[0] / floor[0]:.1f}x**, "
            f"{rows / result[0]:,.0f} rows/s; peak memory {max(peaks) / 1024:.0f} MB",
        ]
        if not phones:
            # The instance holds the leads the last timed run created.
            out.append(update_line(path, runs, crm_env(workdir), rows, result))
            # The raw reference writes the same columns as this file fills.
            out.append(schema_line(path, runs, workdir, result, floor))
    out.append("")


def schema_line(path: Path, runs: int, workdir: Path, result: tuple[float, float, float],
                floor: tuple[float, float, float], url: str | None = None) -> str:
    """How much of the gap to the floor the CRM's own tables account for."""
    schema = timed(lambda env: schema_floor(path, env["CRM_DATABASE_URL"]), runs,
                   setup=lambda: fresh_instance(workdir, url))
    return (f"- the CRM's own tables filled raw by the driver, no validation (every index, "
            f"key and foreign key of `leads` and `email_keys`): {fmt(schema)}, "
            f"**{schema[0] / floor[0]:.1f}x the floor**; the import of the same file takes "
            f"**{result[0] / schema[0]:.1f}x** that")


def postgres_floor(path: Path, url: str) -> None:
    """COPY of the CSV into a table with a unique email index."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute("CREATE TABLE bench_floor (id serial PRIMARY KEY, name text, "
                     "email text, company text, source text)")
        conn.execute("CREATE UNIQUE INDEX ix_bench_floor_email ON bench_floor (email)")
        with conn.cursor() as cur, cur.copy(
                "COPY bench_floor (name, email, company, source) FROM STDIN "
                "WITH (FORMAT csv, HEADER true)") as copy, open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        conn.execute("DROP TABLE bench_floor")


def bench_import_postgres(rows: int, runs: int, workdir: Path, url: str,
                          out: list[str]) -> None:
    out.append(f"### `crm leads import` of {rows:,} leads (PostgreSQL)\n")
    path = workdir / f"leads-{rows}-False.csv"
    if not path.exists():
        make_csv(path, rows, False)
    floor = timed(lambda: postgres_floor(path, url), runs)
    result = timed(lambda env: crm_import(path, env), runs,
                   setup=lambda: fresh_instance(workdir, url))
    out += [f"- name, email, company: floor (COPY, unique email index) {fmt(floor)}, "
            f"{rows / floor[0]:,.0f} rows/s; crm {fmt(result)}; "
            f"**ratio {result[0] / floor[0]:.1f}x** (goal 2x), {rows / result[0]:,.0f} rows/s",
            update_line(path, runs, crm_env(workdir, url), rows, result),
            schema_line(path, runs, workdir, result, floor, url), ""]


# Workbooks keep their text in one table read whole (the import refuses one over
# 32 MB, some 500,000 rows of this file): compared on a size both formats take.
EXCEL_ROWS = 200_000


def bench_workbook_import(rows: int, runs: int, workdir: Path, out: list[str]) -> None:
    """The import of a workbook vs the import of the same rows as CSV."""
    rows = min(rows, EXCEL_ROWS)
    path = workdir / f"excel-{rows}.csv"
    make_csv(path, rows, False)
    book = path.with_suffix(".xlsx")
    in_child(make_workbook, path, book)
    peaks: dict[Path, list[int]] = {path: [], book: []}
    results = {source: timed(lambda env, source=source: peaks[source].append(
        crm_import(source, env)), runs, setup=lambda: fresh_instance(workdir))
        for source in (path, book)}
    text, sheet = results[path], results[book]
    # The instance holds the leads the last run imported.
    csv_export, xlsx_export = in_child(time_exports, crm_env(workdir), runs)
    out += [f"### Excel workbooks: {rows:,} leads (SQLite)\n",
            f"- `crm leads import` of the rows as CSV: {fmt(text)}, peak memory "
            f"{max(peaks[path]) / 1024:.0f} MB",
            f"- the same rows as a workbook (.xlsx, {book.stat().st_size / 2**20:.1f} MB, "
            f"shared text as Excel saves it): {fmt(sheet)}, {rows / sheet[0]:,.0f} rows/s, "
            f"peak memory {max(peaks[book]) / 1024:.0f} MB; **{sheet[0] / text[0]:.1f}x** "
            "the CSV",
            f"- export of those leads as CSV {fmt(csv_export)}; as a workbook (one sheet, "
            f"openpyxl's write-only mode) {fmt(xlsx_export)}, "
            f"{rows / xlsx_export[0]:,.0f} rows/s; **{xlsx_export[0] / csv_export[0]:.1f}x** "
            "the CSV export", ""]


def time_exports(env: dict[str, str], runs: int) -> list[tuple[float, float, float]]:
    """The CSV and the Excel export of every lead, timed in turn."""
    os.environ.update(env)
    from crmcore.app import build_runtime
    from crmcore.services.exports import export_csv, export_xlsx
    from crmcore.services.records import LEADS

    runtime = build_runtime()
    with runtime.sessions() as session:

        def as_csv() -> None:
            with open(os.devnull, "w") as out:
                for chunk in export_csv(session, None, LEADS):
                    out.write(chunk)

        def as_workbook() -> None:
            with tempfile.TemporaryFile() as out:
                export_xlsx(session, None, LEADS, out)

        return interleaved([as_csv, as_workbook], runs)


def bench_memory(rows: int, workdir: Path, out: list[str]) -> None:
    peaks = {}
    for n in (rows, rows * 2):
        path = workdir / f"mem-{n}.csv"
        make_csv(path, n, False)
        peaks[n] = crm_import(path, fresh_instance(workdir)) / 1024
    out += ["### Peak memory of the import, flat in file size\n",
            f"- {rows:,} rows: {peaks[rows]:.0f} MB; {rows * 2:,} rows: "
            f"{peaks[rows * 2]:.0f} MB; **ratio {peaks[rows * 2] / peaks[rows]:.2f}x** "
            "(goal: at most 1.2x, under 300 MB)", ""]


def bench_list(leads: int, runs: int, workdir: Path, out: list[str],
               url: str | None = None) -> dict[str, str]:
    """A filtered, sorted page of 50 through the service vs the bare ORM query."""
    path = workdir / f"list-{leads}.csv"
    if not path.exists():
        make_csv(path, leads, False)
    env = fresh_instance(workdir, url)
    crm_import(path, env)
    os.environ.update(env)
    from sqlalchemy import select

    from crmcore.app import build_runtime
    from crmcore.models import Lead
    from crmcore.services.records import LEADS, list_records

    runtime = build_runtime()
    with runtime.sessions() as session:
        # Walk to page 10,000 of 50 (or as deep as the list goes, less a page),
        # then measure the page there by its cursor.
        depth = min(10_000 * 50, leads - 100)
        deep_cursor = None
        for _ in range(depth // 200):
            deep_cursor = list_records(session, None, LEADS, {"source": "web"}, "-created_at",
                                       deep_cursor, 200).next_cursor

        def bare() -> None:
            session.scalars(select(Lead).where(Lead.deleted_at.is_(None), Lead.source == "web")
                            .order_by(Lead.created_at.desc(), Lead.id.desc()).limit(51)).all()

        def service(cursor: str | None = None) -> None:
            list_records(session, None, LEADS, {"source": "web"}, "-created_at", cursor, 50)

        # A run of 200 pages takes a fraction of a second: take more of them,
        # so that a neighbour's busy moment on a shared host moves no median.
        n = 200
        floor, first, deep = interleaved([lambda: [bare() for _ in range(n)],
                                          lambda: [service() for _ in range(n)],
                                          lambda: [service(deep_cursor) for _ in range(n)]],
                                         max(runs, 15))
        exported = bench_export(session, runs)
    database = "PostgreSQL" if url else "SQLite"
    out += [f"### A filtered, sorted page of 50 among {leads:,} leads ({database})\n",
            f"- bare SQLAlchemy ORM query: {fmt(floor, 1000 / n, 'ms')} per page",
            f"- service `list_records`, first page: {fmt(first, 1000 / n, 'ms')}; "
            f"**ratio {first[0] / floor[0]:.2f}x** (goal 1.25x)",
            f"- service, the page {depth // 50:,} deep (row {depth:,}) by keyset: "
            f"{fmt(deep, 1000 / n, 'ms')}; "
            f"**ratio to the first page {deep[0] / first[0]:.2f}x**", *exported, ""]
    runtime.engine.dispose()
    return env


def bench_export(session: Any, runs: int) -> list[str]:
    """The CSV export of the filtered list vs the same columns read by one bare
    SQLAlchemy Core select and written by ``csv.writer``."""
    from sqlalchemy import select

    from crmcore.models import Lead
    from crmcore.services.exports import attributes, export_csv
    from crmcore.services.records import LEADS

    columns = [getattr(Lead, name) for name in attributes(LEADS)]
    query = (select(*columns).where(Lead.deleted_at.is_(None), Lead.source == "web")
             .order_by(Lead.created_at.desc(), Lead.id.desc()))

    def bare() -> int:
        with open(os.devnull, "w", newline="") as out:
            writer = csv.writer(out)
            rows = 0
            for partition in session.execute(query.execution_options(yield_per=2000)
                                             ).partitions():
                writer.writerows(partition)
                rows += len(partition)
            return rows

    def crm() -> None:
        with open(os.devnull, "w") as out:
            for chunk in export_csv(session, None, LEADS, {"source": "web"}):
                out.write(chunk)

    rows = bare()
    floor, export = interleaved([bare, crm], runs)
    return [f"- CSV export of the whole list ({rows:,} rows): bare Core select written by "
            f"`csv.writer` {fmt(floor)}; crm (keyset pages, stage and owner by name, cells "
            f"safe for spreadsheets) {fmt(export)}, {rows / export[0]:,.0f} rows/s; "
            f"**ratio {export[0] / floor[0]:.1f}x**"]


def load(url: str, headers: dict[str, str], seconds: float, threads: int = 4
         ) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) of ``threads`` keep-alive clients."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        while time.perf_counter() < stop:
            start = time.perf_counter()
            conn.request("GET", f"{parts.path}?{parts.query}", headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}")
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    latencies.sort()
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99)] * 1000


def serve(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen([str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", *args],
                            env=env, cwd=HERE.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # noqa: S310
            break
        except OSError as exc:
            if getattr(exc, "code", None) == 404:  # the bare app has no /healthz
                break
            time.sleep(0.1)
    return proc


def bench_api(env: dict[str, str], leads: int, runs: int, out: list[str]) -> None:
    """/api/v1/leads under gunicorn (2 sync workers) vs a bare Flask endpoint."""
    subprocess.run([str(CRM), "users", "create", "--email", "bench@example.com", "--role",
                    "admin", "--password-stdin"], input=b"bench password 1\n", env=env,
                   check=True, capture_output=True)
    token = subprocess.run([str(CRM), "tokens", "create", "--email", "bench@example.com"],
                           env=env, check=True, capture_output=True, text=True).stdout.strip()
    app_env = {**env, "CRM_API_RATE_LIMIT": "100000000 per minute", "CRM_LOG_LEVEL": "WARNING"}
    bare_env = {**env, "BENCH_DATABASE_URL": env["CRM_DATABASE_URL"]}
    crm = serve(["crmcore.wsgi:app"], app_env, 8791)
    bare = serve(["bench.bare_api:app"], bare_env, 8792)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        load("http://127.0.0.1:8791/api/v1/leads?limit=50", auth, 2)  # warm up
        load("http://127.0.0.1:8792/leads?limit=50", {}, 2)
        crm_runs, bare_runs = [], []
        for _ in range(runs):  # in turn, so that a busy moment slows both alike
            crm_runs.append(load("http://127.0.0.1:8791/api/v1/leads?limit=50", auth, 8))
            bare_runs.append(load("http://127.0.0.1:8792/leads?limit=50", {}, 8))
    finally:
        crm.terminate()
        bare.terminate()
        crm.wait()
        bare.wait()

    def summary(results: list[tuple[float, float]]) -> tuple[float, float, str]:
        rates = [r for r, _ in results]
        p99 = statistics.median(p for _, p in results)
        return (statistics.median(rates), p99,
                f"{statistics.median(rates):,.0f} req/s (range {min(rates):,.0f}-"
                f"{max(rates):,.0f}), p99 {p99:.1f} ms")

    crm_rate, crm_p99, crm_text = summary(crm_runs)
    bare_rate, bare_p99, bare_text = summary(bare_runs)
    out += [f"### `/api/v1/leads` (page of 50 among {leads:,}) under gunicorn, 2 sync workers\n",
            "The load comes from 4 keep-alive client threads on the same 2 cores.\n",
            f"- bare Flask + SQLAlchemy + marshmallow endpoint: {bare_text}",
            f"- crmcore (bearer token, rate limit, problem+json, keyset links): {crm_text}; "
            f"**ratio {crm_rate / bare_rate:.2f}x req/s** (goal 0.7x), "
            f"**p99 {crm_p99 / bare_p99:.2f}x** (goal 1.5x)", ""]


def bench_app_import(runs: int, workdir: Path, out: list[str]) -> None:
    env = {**fresh_instance(workdir), "CRM_PLUGINS": "all"}
    subprocess.run([str(CRM), "init"], env=env, check=True, capture_output=True)
    plugins = ", ".join(line.split()[0] for line in subprocess.run(
        [str(CRM), "plugins", "list"], env=env, check=True, capture_output=True,
        text=True).stdout.splitlines() if "[enabled]" in line) or "none installed"

    def python(code: str) -> Callable[[], None]:
        # The process ends right after the import, without tearing down its
        # heap: start-up is the measure, and the app freezes what it built
        # (crmcore.startup), which makes its teardown cheaper than the floor's.
        return lambda: subprocess.run([sys.executable, "-c", f"{code}; import os; os._exit(0)"],
                                      check=True, env=env, capture_output=True)

    # The WSGI module builds the whole application: every installed plugin's
    # hooks, models and blueprints are imported and registered.
    floor, app = interleaved([python("import flask, sqlalchemy, marshmallow, pluggy"),
                              python("import crmcore.wsgi")], runs)
    out += ["### Importing the app with every plugin enabled\n",
            f"- `import flask, sqlalchemy, marshmallow, pluggy`: {fmt(floor)}",
            f"- `import crmcore.wsgi` (builds the app, plugins {plugins}): {fmt(app)}; "
            f"**ratio {app[0] / floor[0]:.2f}x** (goal 1.5x)", ""]


def write_readme(text: str) -> None:
    readme = HERE / "README.md"
    body = readme.read_text()
    start, end = "<!-- results -->", "<!-- /results -->"
    head, _, rest = body.partition(start)
    _, _, tail = rest.partition(end)
    readme.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="1M rows instead of 100k")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, help="rows per import file (overrides --full)")
    parser.add_argument("--pg-url", default=os.environ.get(
        "CRM_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL runs")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.full else 100_000)
    out = [f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, "
           f"{os.cpu_count()} cores, Python {platform.python_version()}, "
           f"SQLite {sqlite3.sqlite_version}; {args.runs} runs each, median with the range.\n"]
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        workdir = Path(tmp)
        bench_app_import(args.runs, workdir, out)
        bench_import(rows, args.runs, workdir, out)
        bench_revert(rows, args.runs, workdir, out)
        if not args.no_pg:
            bench_import_postgres(rows, args.runs, workdir, args.pg_url, out)
            bench_revert(rows, args.runs, workdir, out, args.pg_url)
        bench_workbook_import(rows, args.runs, workdir, out)
        bench_memory(rows, workdir, out)
        listed = rows * 2 if not args.full else rows
        env = bench_list(listed, args.runs, workdir, out)
        bench_api(env, listed, args.runs, out)
        if not args.no_pg:
            bench_list(listed, args.runs, workdir, out, args.pg_url)
    text = "\n".join(out)
    print(text)
    write_readme(text)


if __name__ == "__main__":
    main()
