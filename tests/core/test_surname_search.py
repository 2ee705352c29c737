"""Leads are found by the start of their name or of their last name, as
contacts are, and names fold the Latin letters Unicode does not decompose
(Ø, Ł, Æ...) as it folds accents: in search, the name sort and duplicate checks,
through the API and the web list, on either database."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from crmcore.alembic_branches import CORE_MIGRATIONS, Branch
from crmcore.textkeys import fold, similar_names, sound_key
from tests.core.test_name_keys import insert_leads
from tests.plugins.leadworks.test_migrations import downgrade

pytestmark = pytest.mark.plugins()

NAMES = ["Anna Müller", "Müller Bau", "Maria de la Cruz", "Jean-Luc Picard",
         "Ada Lovelace King", "Martin Luther King Jr.", "Mary Ann Smith", "Lovelace, Ada",
         "Cher"]


def found(api, q, path="/api/v1/leads", **filters):
    """The full names of every page of the search, walked one cursor at a time."""
    names, url, params = [], path, {"q": q, "limit": 2, **filters}
    while url:
        page = api.get(url, query_string=params).get_json()
        names += [r.get("full_name") or r["last_name"] for r in page["items"]]
        url, params = page["links"]["next"], None
    return names


@pytest.mark.parametrize(("q", "expected"), [
    ("müller", ["Anna Müller", "Müller Bau"]),  # by the last name, or the start of the name
    ("MULL", ["Anna Müller", "Müller Bau"]),
    ("picard", ["Jean-Luc Picard"]),
    ("jean-luc", ["Jean-Luc Picard"]),
    # The last name starts at a lower-case particle, as converting the lead
    # splits it off for the contact.
    ("de la cruz", ["Maria de la Cruz"]),
    ("de la", ["Maria de la Cruz"]),
    ("cruz", []),
    # Otherwise it is the last word, and a suffix stays with it.
    ("king", ["Ada Lovelace King", "Martin Luther King Jr."]),
    ("king jr", ["Martin Luther King Jr."]),
    ("smith", ["Mary Ann Smith"]),
    ("ann", ["Anna Müller"]),  # a middle name is neither
    ("lovelace", ["Lovelace, Ada"]),  # "Last, First" starts with it anyway
    ("ada", ["Ada Lovelace King"]),
    ("cher", ["Cher"]),
])
def test_leads_are_found_by_the_start_of_their_name_or_last_name(api_client, q, expected):
    api = api_client()
    for name in NAMES:
        assert api.post("/api/v1/leads", json={"full_name": name}).status_code == 201
    assert found(api, q, sort="full_name") == sorted(expected, key=fold)


def test_a_lead_and_the_contact_it_becomes_are_found_by_the_same_surname(api_client):
    api = api_client()
    for name in ("Maria de la Cruz", "Ada Lovelace King"):
        lead = api.post("/api/v1/leads", json={"full_name": name}).get_json()
        converted = api.post(f"/api/v1/leads/{lead['id']}/convert", json={})
        assert converted.status_code in (200, 201), converted.get_json()
    for q in ("de la cruz", "king", "maria", "cruz", "lovelace"):
        leads = found(api, q)
        assert [c["first_name"] + " " + c["last_name"] for c in api.get(
            "/api/v1/contacts", query_string={"q": q}).get_json()["items"]] == leads, q


def test_surname_search_pages_by_keyset_with_filters_and_sorts(api_client):
    api = api_client()
    leads = []
    for i in range(12):
        name = (f"Person{i:02d} Müller", f"Müller{i:02d} Person", f"Person{i:02d} Other")[i % 3]
        body = {"full_name": name, "source": ("fair", "web")[i % 2]}
        lead = api.post("/api/v1/leads", json=body).get_json()
        leads.append(lead)
    matching = [lead for lead in leads if "Müller" in lead["full_name"]]
    fair = [lead for lead in matching if lead["source"] == "fair"]
    orders = {"full_name": lambda lead: (fold(lead["full_name"]), lead["id"]),
              "created_at": lambda lead: lead["id"],  # created in id order
              "score": lambda lead: (lead["score"], lead["id"])}
    for sort in ("full_name", "-full_name", "-created_at", "score"):
        for wanted, filters in ((matching, {}), (fair, {"source": "fair"})):
            expected = [lead["full_name"] for lead in sorted(
                wanted, key=orders[sort.lstrip("-")], reverse=sort.startswith("-"))]
            assert found(api, "mul", sort=sort, **filters) == expected, (sort, filters)


def test_the_web_list_finds_leads_by_surname(app, client, make_user, login, api_client):
    user = make_user("admin")
    api = api_client(user)
    for name in ("Anna Müller", "Ørjan Ås", "Bob Jones"):
        api.post("/api/v1/leads", json={"full_name": name})
    login(client, user)
    for q, shown, hidden in (("Müller", "Anna Müller", "Bob Jones"),
                             ("as", "Ørjan Ås", "Anna Müller"),
                             ("orjan", "Ørjan Ås", "Bob Jones")):
        page = client.get("/leads", query_string={"q": q, "mine": "0"})
        body = page.get_data(as_text=True)
        assert page.status_code == 200 and shown in body and hidden not in body, q


@pytest.mark.parametrize(("name", "key"), [
    ("Ørjan", "orjan"), ("ŁUKASZ", "lukasz"), ("Æsa", "aesa"), ("Œuvre", "oeuvre"),
    ("Đorđe", "dorde"), ("Þór", "thor"), ("Guðrún", "gudrun"), ("Yıldız", "yildiz"),
    ("Ħamrun", "hamrun"), ("Søren", "soren"),
])
def test_fold_writes_letters_that_do_not_decompose_plainly(name, key):
    assert fold(name) == key


FOLDED = ["Æsa Þórsdóttir", "Łukasz Nowak", "Ørjan Ås", "Zed Øgård", "Zoë Young"]


def test_letters_that_do_not_decompose_fold_in_search_and_the_name_sort(api_client):
    api = api_client()
    for name in ("Zoë Young", "Zed Øgård", "Ørjan Ås", "Łukasz Nowak", "Æsa Þórsdóttir"):
        assert api.post("/api/v1/leads", json={"full_name": name}).status_code == 201
    api.post("/api/v1/contacts", json={"first_name": "Søren", "last_name": "Łęcki"})
    for q, expected in (("orjan", ["Ørjan Ås"]), ("ØRJAN", ["Ørjan Ås"]),
                        ("lukasz", ["Łukasz Nowak"]), ("aesa", ["Æsa Þórsdóttir"]),
                        ("thorsd", ["Æsa Þórsdóttir"]), ("ogard", ["Zed Øgård"]),
                        ("Øgå", ["Zed Øgård"]), ("zoe", ["Zoë Young"])):
        assert found(api, q) == expected, q
    assert found(api, "soren", "/api/v1/contacts") == ["Łęcki"]
    assert found(api, "lecki", "/api/v1/contacts") == ["Łęcki"]
    for sort, expected in (("full_name", FOLDED), ("-full_name", FOLDED[::-1])):
        walked, url = [], f"/api/v1/leads?sort={sort}&limit=1"
        while url:  # each cursor carries a folded key
            page = api.get(url).get_json()
            walked += [lead["full_name"] for lead in page["items"]]
            url = page["links"]["next"]
        assert walked == expected, sort


def test_duplicate_checks_compare_the_plain_letters(api_client):
    assert similar_names("Søren Kierkegaard", "Soren Kierkegaard")
    assert sound_key("Łukasz Nowak") == sound_key("Lukasz Nowak")
    api = api_client()
    first = api.post("/api/v1/leads", json={"full_name": "Søren Kierkegaard"}).get_json()
    api.post("/api/v1/leads", json={"full_name": "Soren Kierkegård"})
    api.post("/api/v1/leads", json={"full_name": "Sorin Kirk"})
    found_ = api.get(f"/api/v1/leads/{first['id']}/duplicates").get_json()
    assert [r["full_name"] for r in found_["items"]] == ["Soren Kierkegård"]


def test_upgrading_keys_stored_names_by_last_name_and_plain_letters(old_install):
    engine, migrate = old_install
    migrate("core_0025")
    old_fold = str.lower  # as the code before core_0026 left these names
    with engine.begin() as conn:
        insert_leads(conn, ("Ørjan Ås", "Maria de la Cruz", "Anna Müller", ""), old_fold)
        conn.execute(text(
            "INSERT INTO contacts (first_name, last_name, name_key, last_name_key, street,"
            " city, postal_code, country, lifecycle_stage, opt_outs, emails, phones,"
            " company, tags, custom, plugin_data, version) VALUES"
            " ('Łukasz', 'Øgård', 'łukasz øgård', 'øgård', '', '', '', '', 'lead', '[]',"
            " '[]', '[]', '', '[]', '{}', '{}', 1),"
            " ('Ada', 'King', 'ada king', 'king', '', '', '', '', 'lead', '[]', '[]', '[]',"
            " '', '[]', '{}', '{}', 1)"))

    assert migrate() == ["core_0026"]

    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT name_key, sound_key, last_name_key FROM leads ORDER BY id")).all() == [
            (key, sound_key(key), last) for key, last in (
                ("orjan as", "as"), ("maria de la cruz", "de la cruz"),
                ("anna muller", "muller"), ("", ""))]
        assert conn.execute(text(
            "SELECT name_key, sound_key, last_name_key FROM contacts ORDER BY id")).all() == [
            ("lukasz ogard", sound_key("lukasz ogard"), "ogard"),
            ("ada king", sound_key("ada king"), "king")]
    assert {"name": "ix_leads_last_name_key_id", "column_names": ["last_name_key", "id"]}.items() \
        <= next(i for i in inspect(engine).get_indexes("leads")
                if i["name"] == "ix_leads_last_name_key_id").items()


def test_downgrading_drops_the_leads_last_name_key(old_install):
    engine, migrate = old_install
    migrate()
    with engine.begin() as conn:
        insert_leads(conn, ("Ørjan Ås",), fold)
    downgrade(engine, Branch("core", CORE_MIGRATIONS), "core_0025")
    assert "last_name_key" not in {c["name"] for c in inspect(engine).get_columns("leads")}
    assert migrate() == ["core_0026"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name_key, last_name_key FROM leads")).one() == (
            "orjan as", "as")
