"""Names are searched, compared and sorted by folded keys: case and accents do
not decide the order or whether a search finds a name, on either database and
whatever its collation."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crmcore.testing import is_postgres
from crmcore.textkeys import (
    MOST_SPELLINGS,
    company_key,
    fold,
    similar_companies,
    similar_names,
    sound_key,
    sound_keys,
)

pytestmark = pytest.mark.plugins()

NAMES = ["Zoe Young", "adam smith", "Émile Zola", "Ådne Berg", "Bea Müller", "ÖZIL Mesut"]
SORTED = ["adam smith", "Ådne Berg", "Bea Müller", "Émile Zola", "ÖZIL Mesut", "Zoe Young"]


@pytest.mark.parametrize(("name", "key"), [
    ("Bea Müller", "bea muller"), ("STRASSE", "strasse"), ("Straße", "strasse"),
    ("ﬁnn", "finn"), ("Nguyễn", "nguyen"), ("Йорк", "иорк"),
    # Marks that make another letter in their script stay.
    ("ガス", "ガス"), ("क्ष", "क्ष"), ("한국어", "한국어"),
])
def test_fold_drops_case_and_accents_only(name, key):
    assert fold(name, 200) == key


def test_fold_cuts_to_the_column_even_when_the_text_grows():
    assert fold("ﬃ" * 100, 200) == "ffi" * 66 + "ff"


def test_leads_sort_by_name_whatever_the_case_and_accents(api_client):
    api = api_client()
    for name in NAMES:
        assert api.post("/api/v1/leads", json={"full_name": name}).status_code == 201
    for sort, expected in (("full_name", SORTED), ("-full_name", SORTED[::-1])):
        walked, url = [], f"/api/v1/leads?sort={sort}&limit=1"
        while url:  # a page of one at a time: each cursor carries a name's key
            page = api.get(url).get_json()
            walked += [lead["full_name"] for lead in page["items"]]
            url = page["links"]["next"]
        assert walked == expected


def test_contacts_sort_by_last_name_whatever_the_case_and_accents(api_client):
    api = api_client()
    for last in ("zimmer", "Öberg", "Adams", "ebert"):
        created = api.post("/api/v1/contacts", json={"first_name": "X", "last_name": last})
        assert created.status_code == 201, created.get_json()
    items = api.get("/api/v1/contacts?sort=last_name").get_json()["items"]
    assert [c["last_name"] for c in items] == ["Adams", "ebert", "Öberg", "zimmer"]


def test_search_finds_names_whatever_the_case_and_accents(api_client):
    api = api_client()
    for name in NAMES:
        api.post("/api/v1/leads", json={"full_name": name})
    api.post("/api/v1/contacts", json={"first_name": "Émile", "last_name": "Ötzi"})

    def found(path, q):
        return sorted(r.get("full_name") or r["last_name"]
                      for r in api.get(path, query_string={"q": q}).get_json()["items"])

    assert found("/api/v1/leads", "bea mül") == ["Bea Müller"]
    assert found("/api/v1/leads", "BEA MUL") == ["Bea Müller"]
    assert found("/api/v1/leads", "emile") == ["Émile Zola"]
    assert found("/api/v1/leads", "Öz") == ["ÖZIL Mesut"]
    assert found("/api/v1/contacts", "EMILE OTZ") == ["Ötzi"]
    assert found("/api/v1/contacts", "otz") == ["Ötzi"]  # by the last name alone


def test_merge_candidates_compare_names_and_companies_whatever_the_case(api_client):
    api = api_client()
    first = api.post("/api/v1/leads", json={"full_name": "Bea Müller", "company": "ACME"})
    api.post("/api/v1/leads", json={"full_name": "BEA MULLER", "company": "Acme"})
    api.post("/api/v1/leads", json={"full_name": "Bea Muller", "company": "Acme Two"})
    api.post("/api/v1/leads", json={"full_name": "bea müller", "company": "Acmé, Inc."})
    api.post("/api/v1/leads", json={"full_name": "Bea Muller", "company": "Other",
                                    "phones": ["+1 202 555 0143"]})
    found = api.get(f"/api/v1/leads/{first.get_json()['id']}/duplicates").get_json()
    assert [r["full_name"] for r in found["items"]] == ["BEA MULLER", "bea müller"]


@pytest.mark.parametrize(("one", "other", "same"), [
    ("ACME, Inc.", "Acme", True),
    ("Acme Corp", "acme corporation", True),
    ("Müller GmbH", "MULLER G.m.b.H.", True),
    ("Smith & Sons Ltd.", "Smith and Sons", True),
    ("The Boring Company", "Boring", True),
    ("Acme Rockets", "Acme", False),
    ("Inc.", "", False),  # a name that is only a legal form keeps it
    ("", "", True),
])
def test_company_keys_leave_out_case_accents_punctuation_and_legal_forms(one, other, same):
    assert (company_key(one) == company_key(other)) is same


def insert_leads(conn, names, key):
    """Leads with the bare columns of an older revision, keyed by ``key``."""
    stage = conn.scalar(text("SELECT min(id) FROM lead_stages"))
    for name in names:
        conn.execute(text(
            "INSERT INTO leads (full_name, name_key, login, partner, location, source,"
            " score, stage_id, emails, phones, company, tags, custom, plugin_data,"
            " version) VALUES (:n, :k, '', '', '', '', 0, :s, '[]', '[]', '',"
            " '[]', '{}', '{}', 1)"), {"n": name, "k": key(name), "s": stage})


def test_upgrading_folds_the_keys_of_stored_names(old_install):
    engine, migrate = old_install
    migrate("core_0012")
    with engine.begin() as conn:
        insert_leads(conn, NAMES, str.lower)
        conn.execute(text(
            "INSERT INTO contacts (first_name, last_name, name_key, street, city,"
            " postal_code, country, lifecycle_stage, opt_outs, emails, phones, company,"
            " tags, custom, plugin_data, version) VALUES ('Émile', 'ÖTZI', 'émile ötzi',"
            " '', '', '', '', 'lead', '[]', '[]', '[]', '', '[]', '{}', '{}', 1)"))

    assert migrate()[0] == "core_0013"

    with engine.connect() as conn:
        assert list(conn.scalars(text(
            "SELECT full_name FROM leads ORDER BY name_key, id"))) == SORTED
        assert conn.execute(text("SELECT name_key, last_name_key FROM contacts")).one() == (
            "emile otzi", "otzi")
        if is_postgres():
            assert set(conn.scalars(text(
                "SELECT collation_name FROM information_schema.columns WHERE "
                "column_name IN ('name_key', 'last_name_key') "
                "AND table_schema = current_schema()"))) == {"C"}


@pytest.mark.parametrize(("one", "other", "alike"), [
    ("John Smith", "Jon Smith", True),  # a letter left out
    ("John Smith", "Smith, John", True),  # another order
    ("John Smith", "JOHN  SMITH", True),
    ("Dr. John A. Smith", "John Smith", True),  # a title and an initial aside
    ("Kathy Ng", "Cathy Ng", True),  # a letter changed, the sound kept
    ("Mary O'Brien", "Mary OBrien", True),
    ("Mary-Ann Lee", "Mary Ann Lee", True),
    ("Bea Müller", "bea mueller", True),
    ("Иван Петров", "иван петров", True),  # other scripts compare as written
    ("John Smith", "Jane Smith", False),
    ("Bob Smith", "Robert Smith", True),  # nicknames
    ("Smith, Bill", "William Smith", True),
    ("Jim Smith", "James Smith", True),
    ("Jon Jan", "Jon John", True),  # each word pairs off: "Jon" with "John", "Jan" with "Jon"
    ("Jhon Smith", "John Smith", True),  # two letters swapped, the sound changed
    ("John Smtih", "Smith, John", True),
    ("Mark Smith", "Mary Smith", False),  # a letter changed, and the sound
    ("Li Wei", "Il Wei", False),
    ("Robert Smith", "Hubert Smith", False),
    ("Bill Ng", "Bob Ng", False),  # both nicknames of Robert, but neither of the other
    ("Li Wei", "Lu Wei", False),  # short words are spelt alike or not at all
    ("Catherine Ng", "Kathryn Ng", False),  # the same sound, but more than a letter apart
    ("John Smith", "John Smith Jr", False),  # a son is not his father
    ("John Smith", "John Adam Smith", False),
    ("Person 12", "Person 13", False),
    ("", "", False),
])
def test_similar_names_are_nicknames_or_sound_alike_and_a_letter_apart(one, other, alike):
    assert similar_names(one, other) is alike
    assert similar_names(other, one) is alike
    if alike:
        # The duplicate checks look similar names up by their sound keys.
        assert sound_key(other) in sound_keys(one)
        assert sound_key(one) in sound_keys(other)


@pytest.mark.parametrize(("one", "other", "alike"), [
    ("Acme Fibre", "ACME Fiber, Ltd.", True),  # two letters swapped, a legal form
    ("Globex Networks", "Globex Network", True),
    ("The Acme Co", "acme", True),
    ("", "", True),  # no company is one company
    ("", "Acme", False),
    ("Acme", "Acme Rockets", False),
    ("AMD", "AMC", False),  # short words are spelt alike or not at all
    ("Fibre Acme", "Acme Fibre", False),  # a company's words keep their order
])
def test_similar_companies_are_a_letter_apart_at_most(one, other, alike):
    assert similar_companies(one, other) is alike


def test_sound_keys_fit_their_column():
    assert len(sound_key("Xavier " * 60, 200)) == 200
    assert {len(key) for key in sound_keys("Al Bob " * 50, 200)} == {200}


def test_a_names_sound_keys_are_its_own_then_its_nicknames():
    assert sound_keys("Zo Ng") == [sound_key("Zo Ng")]
    keys = sound_keys("Bob Lovelace")
    assert keys[0] == sound_key("Bob Lovelace")
    assert {sound_key("Robert Lovelace"), sound_key("Bobby Lovelace")} <= set(keys)
    assert sound_keys("") == [""]
    # Every word of these names has many nicknames: the spellings are bounded.
    assert len(sound_keys("Al Chris Ed Tony Sam")) <= MOST_SPELLINGS + 9
    assert len(sound_keys("Al " * 100, 200)) <= MOST_SPELLINGS


def test_upgrading_gives_stored_names_their_sound_keys(old_install):
    engine, migrate = old_install
    migrate("core_0015")
    with engine.begin() as conn:
        insert_leads(conn, ("John Smith", "Smith, Jon", ""), fold)
        conn.execute(text(
            "INSERT INTO contacts (first_name, last_name, name_key, last_name_key, street,"
            " city, postal_code, country, lifecycle_stage, opt_outs, emails, phones,"
            " company, tags, custom, plugin_data, version) VALUES ('Cathy', 'Ng',"
            " 'cathy ng', 'ng', '', '', '', '', 'lead', '[]', '[]', '[]', '', '[]', '{}',"
            " '{}', 1)"))

    migrate()

    with engine.connect() as conn:
        assert list(conn.scalars(text("SELECT sound_key FROM leads ORDER BY id"))) == [
            "JN SM0", "JN SM0", ""]
        assert conn.scalar(text("SELECT sound_key FROM contacts")) == "K0 NK"
