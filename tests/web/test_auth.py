"""Sign-in, sessions, throttling, CSRF and the account pages."""

from __future__ import annotations

from typing import Any

import pytest

from crmcore.db import transaction
from crmcore.services import users as user_service
from crmcore.testing import DEFAULT_PASSWORD, https_client
from crmcore.web.common import safe_next
from tests.web.conftest import session_cookie


def test_login_page_and_logout(client, make_user, login):
    user = make_user("sales")
    page = client.get("/login")
    assert page.status_code == 200
    assert b'name="csrf_token"' in page.data
    assert client.get("/").status_code == 302  # anonymous: to the login page
    login(client, user)
    home = client.get("/")
    assert home.status_code == 200 and b"Dashboard" in home.data
    response = client.post("/logout")
    assert response.status_code == 303
    assert client.get("/").status_code == 302


def test_signing_in_upgrades_an_old_hash_and_records_the_time(app, client, make_user):
    from argon2 import PasswordHasher

    from crmcore.auth.passwords import needs_rehash
    from crmcore.models import User

    user = make_user("sales")
    weak = PasswordHasher(time_cost=1, memory_cost=1024).hash(DEFAULT_PASSWORD)
    with transaction(app.extensions["crm"].sessions) as session:
        session.get(User, user.id).password_hash = weak
    response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 303
    with app.extensions["crm"].sessions() as session:
        stored = session.get(User, user.id)
        assert stored.password_hash != weak and stored.last_login_at is not None
        assert not needs_rehash(stored.password_hash)


@pytest.mark.parametrize("meanwhile", ["deactivated", "new password"])
def test_a_change_while_the_password_is_checked_refuses_the_sign_in(app, client, make_user,
                                                                    monkeypatch, meanwhile):
    from crmcore.models import User

    user = make_user("sales")
    verify = user_service.verify_password

    def verify_while_an_admin_acts(stored: Any, password: str) -> bool:
        with transaction(app.extensions["crm"].sessions) as session:
            changed = session.get(User, user.id)
            if meanwhile == "deactivated":
                changed.is_active = False
            else:
                changed.password_hash = user_service.hash_password("another long password")
        return verify(stored, password)

    monkeypatch.setattr(user_service, "verify_password", verify_while_an_admin_acts)
    response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 401
    assert client.get("/").status_code == 302
    with app.extensions["crm"].sessions() as session:
        assert session.get(User, user.id).last_login_at is None


def test_wrong_password_is_refused(client, make_user):
    user = make_user("sales")
    response = client.post("/login", data={"email": user.email, "password": "nope-nope-nope"})
    assert response.status_code == 401
    assert b"Wrong email or password." in response.data
    assert client.get("/").status_code == 302


def test_login_redirects_anonymous_to_next(client, make_user):
    user = make_user("sales")
    response = client.get("/leads?stage_id=1")
    assert response.status_code == 302
    assert "next=/leads?stage_id%3D1" in response.location or "next=%2Fleads" in response.location
    response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                           "next": "/leads?stage_id=1"})
    assert response.status_code == 303
    assert response.location == "/leads?stage_id=1"


def test_session_cookie_changes_at_login_and_dies_at_logout(app, client, make_user, login):
    user = make_user("sales")
    client.get("/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by-attacker"
    before = session_cookie(client)
    login(client, user)
    after = session_cookie(client)
    assert after and after != before
    with client.session_transaction() as sess:
        assert "planted" not in sess  # the pre-login session was not kept
    client.post("/logout")
    replay = https_client(app)
    replay.set_cookie("__Host-crm_session", after, domain="localhost")
    assert replay.get("/").status_code == 302  # the old cookie no longer works


def test_deactivated_user_session_dies(app, client, make_user, login):
    user = make_user("sales")
    login(client, user)
    assert client.get("/").status_code == 200
    with transaction(app.extensions["crm"].sessions) as session:
        user_service.update_user(session, None, session.merge(user), {"is_active": False})
    assert client.get("/").status_code == 302


OPEN_REDIRECTS = [
    "//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example/",
    "http:evil.example", "javascript:alert(1)", "%2F%2Fevil.example", "/%2F%2Fevil.example",
    "/%5Cevil.example", "%252F%252Fevil.example", "/%09/evil.example", " //evil.example",
    "evil.example", "//", "///evil.example", "/\t/evil.example", "data:text/html,x", "",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_open_redirect_corpus_is_refused(target: str):
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/leads", "/leads/3?x=1", "/contacts#top"])
def test_same_origin_next_is_kept(target: str):
    assert safe_next(target) == target


def test_login_never_redirects_off_site(client, make_user):
    user = make_user("sales")
    for target in OPEN_REDIRECTS:
        response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                               "next": target})
        assert response.status_code == 303
        assert response.location == "/", target
        client.post("/logout")
        user = user  # the same user signs in again


def test_throttling_after_five_failures(client, make_user):
    user = make_user("sales")
    for _ in range(5):
        assert client.post("/login", data={"email": user.email,
                                           "password": "wrong-password"}).status_code == 401
    response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts. Try again in 15 minutes." in response.data
    assert int(response.headers["Retry-After"]) > 800
    assert client.get("/").status_code == 302  # the right password did not get in
    other = make_user("sales")
    response = client.post("/login", data={"email": other.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 303  # another account from the same address still works


def test_head_with_credentials_neither_signs_in_nor_counts_as_a_failure(client, make_user):
    # Flask-WTF lets HEAD past CSRF: were it handled as a POST, it would sign in.
    user = make_user("sales")
    form = {"email": user.email, "password": DEFAULT_PASSWORD}
    response = client.open("/login", method="HEAD", data=form)
    assert response.status_code == 200
    assert client.get("/").status_code == 302
    for _ in range(5):
        client.open("/login", method="HEAD", data={**form, "password": "wrong-password"})
    assert client.post("/login", data=form).status_code == 303  # not throttled


class TestIpThrottle:
    @pytest.fixture
    def crm_config(self, crm_config: dict[str, Any]) -> dict[str, Any]:
        return {**crm_config, "WEB_LOGIN_MAX_FAILURES_PER_IP": 3}

    def test_failures_from_one_address_across_emails(self, client, make_user):
        for i in range(3):
            client.post("/login", data={"email": f"guess{i}@example.com", "password": "x" * 9})
        user = make_user("sales")
        response = client.post("/login", data={"email": user.email,
                                               "password": DEFAULT_PASSWORD})
        assert response.status_code == 429


def test_throttling_window_expires(app):
    from datetime import UTC, datetime, timedelta

    from crmcore.auth.throttle import LoginThrottle

    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = [0]
    throttle = LoginThrottle(app.extensions["crm"].sessions, window=900,
                             clock=lambda: start + timedelta(seconds=now[0]))
    limits = {"email:a@example.com": 5}
    for _ in range(5):
        assert throttle.retry_after(limits) == 0
        throttle.fail("email:a@example.com")
    assert throttle.retry_after(limits) == 900
    now[0] += 600
    assert throttle.retry_after(limits) == 300
    now[0] += 300
    assert throttle.retry_after(limits) == 0


def test_password_change_kills_other_sessions(app, client, make_user, login):
    user = make_user("sales")
    other = https_client(app)
    login(client, user)
    login(other, user)
    response = client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "a brand new secret",
        "confirm_password": "a brand new secret"})
    assert response.status_code == 303
    assert client.get("/").status_code == 200  # this session lives on
    assert other.get("/").status_code == 302  # the other one is gone
    login(other, user, password="a brand new secret")


def test_password_change_errors(client, make_user, login):
    user = make_user("sales")
    login(client, user)
    response = client.post("/account/password", data={
        "current_password": "wrong wrong wrong", "new_password": "a brand new secret",
        "confirm_password": "a brand new secret"})
    assert response.status_code == 422
    assert b"Wrong password." in response.data


def test_tokens_shown_once_and_revoked(client, make_user, login):
    user = make_user("sales")
    login(client, user)
    response = client.post("/account/tokens", data={"name": "script"})
    assert response.status_code == 201
    text = response.get_data(as_text=True)
    token = text.split('<code class="token">')[1].split("<")[0]
    assert token.startswith("crm_")
    listing = client.get("/account/tokens").get_data(as_text=True)
    assert token not in listing and "script" in listing
    token_id = listing.split("/account/tokens/")[1].split("/")[0]
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 303
    assert "revoked" in client.get("/account/tokens").get_data(as_text=True)


class TestCsrf:
    @pytest.fixture
    def crm_config(self, crm_config: dict[str, Any]) -> dict[str, Any]:
        return {**crm_config, "WTF_CSRF_ENABLED": True}

    def test_post_without_token_is_refused(self, client, make_user):
        user = make_user("sales")
        response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD})
        assert response.status_code == 400
        assert client.get("/").status_code == 302

    def test_nul_in_a_form_is_refused_when_the_csrf_check_reads_it(self, client, make_user):
        # CSRF reads the form before any view: the refusal comes from there.
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        response = client.post("/login", data={"email": "a\x00@x.org", "password": "x",
                                                "csrf_token": token},
                               headers={"Referer": "https://localhost/login"})
        assert response.status_code == 422
        assert "Text in email contains the NUL character" in response.get_data(as_text=True)

    def test_post_with_token_is_accepted(self, client, make_user):
        user = make_user("sales")
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        # Over HTTPS Flask-WTF also wants a same-origin Referer, as browsers send.
        response = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                                "csrf_token": token},
                               headers={"Referer": "https://localhost/login"})
        assert response.status_code == 303
        assert client.get("/").status_code == 200
        # The login began a fresh session, so the pre-login token is worthless now.
        response = client.post("/logout", data={"csrf_token": token},
                               headers={"Referer": "https://localhost/"})
        assert response.status_code == 400


def test_a_password_changed_while_the_current_one_is_checked_is_not_overwritten(
        app, client, make_user, login, monkeypatch):
    """The current password is checked outside the transaction that writes:
    a change made meanwhile (an admin's new password) wins, and says so."""
    from crmcore.models import User

    user = make_user("sales")
    login(client, user)
    verify = user_service.verify_password

    def verify_while_an_admin_acts(stored: Any, password: str) -> bool:
        user_service.set_password(app.extensions["crm"].sessions, None, user.id,
                                  "the admin's choice")
        return verify(stored, password)

    monkeypatch.setattr(user_service, "verify_password", verify_while_an_admin_acts)
    response = client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "a brand new secret",
        "confirm_password": "a brand new secret"})
    assert response.status_code == 409
    assert "The password was changed meanwhile" in response.get_data(as_text=True)
    with app.extensions["crm"].sessions() as session:
        stored = session.get(User, user.id).password_hash
    assert user_service.verify_password(stored, "the admin's choice")
