"""The Flask-free accounts core: passwords, tokens, and what each account operation does."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from kapfinder import accounts
from kapfinder.accounts import InvalidToken
from kapfinder.errors import InvalidParameter
from kapfinder.models import AccountToken, User, utcnow


@pytest.fixture
def s(db_session):
    return db_session()


@pytest.mark.parametrize("password, reason", [
    ("short", "password_too_short"),
    ("1234567", "password_too_short"),
    ("password", "password_common"),
    ("PassWord1", "password_common"),
    ("qwertyuiop", "password_common"),
    ("12345678", "password_common"),
    ("x" * 1025, "password_too_long"),
    ("owner@clinic.example", "password_is_email"),
])
def test_weak_passwords_are_refused_with_a_reason(password, reason):
    assert accounts.password_problem(password, "owner@clinic.example") == reason


@pytest.mark.parametrize("password", ["ketamine123", "Ketamine2025!", "k3tamin3!", "KAPFINDER1", "spravato2024",
                                      "ketamine therapy", "esketamine", "monkey123456", "sunshine2024!",
                                      "trustno1", "starwars", "michelle1"])
def test_the_sites_own_words_and_a_real_common_list_are_refused(password):
    assert accounts.password_problem(password, "owner@clinic.example") == "password_common"


def test_the_common_password_list_is_real_and_licensed():
    assert len(accounts.common_passwords()) >= 10_000
    folder = accounts.COMMON_PASSWORDS_FILE.parent
    assert "MIT License" in (folder / "LICENSE").read_text(encoding="utf-8")
    assert "zxcvbn" in (folder / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("password", ["abcdefgx", "lowercase words only", "ALLCAPSNOW", "11112222x", "ünïcödé!"])
def test_no_composition_rules(password):
    assert accounts.password_problem(password, "owner@clinic.example") is None


def test_passwords_are_stored_as_scrypt_hashes(s):
    user = accounts.create_user(s, "Owner@Clinic.Example ", "a long enough passphrase")
    assert user.email == "owner@clinic.example"
    assert user.password_hash.startswith("scrypt:")
    assert "a long enough passphrase" not in user.password_hash


def test_create_user_refuses_a_taken_address_and_a_common_password(s):
    accounts.create_user(s, "owner@clinic.example", "a long enough passphrase")
    with pytest.raises(InvalidParameter) as taken:
        accounts.create_user(s, "OWNER@clinic.example", "another fine passphrase")
    assert taken.value.reason == "email_taken"
    with pytest.raises(InvalidParameter) as common:
        accounts.create_user(s, "other@clinic.example", "iloveyou")
    assert common.value.reason in ("password_too_short", "password_common")
    assert s.execute(select(User)).scalars().all()[0].email == "owner@clinic.example"
    assert len(s.execute(select(User)).scalars().all()) == 1


def test_tokens_are_stored_hashed_and_work_once(s, make_user):
    user = make_user()
    token = accounts.issue_token(s, "reset", user.id)
    s.commit()
    stored = s.execute(select(AccountToken)).scalar_one()
    assert stored.token_hash != token and token not in stored.token_hash
    assert accounts.consume_token(s, token, "reset").user_id == user.id
    s.commit()
    with pytest.raises(InvalidToken):
        accounts.consume_token(s, token, "reset")


def test_a_token_is_bound_to_its_purpose_and_listing(s, make_user, make_clinic):
    user = make_user()
    clinic, other = make_clinic(), make_clinic()
    claim = accounts.issue_token(s, "claim", user.id, listing_id=clinic.id)
    confirm = accounts.issue_token(s, "confirm", user.id)
    s.commit()
    with pytest.raises(InvalidToken):
        accounts.consume_token(s, confirm, "reset")
    with pytest.raises(InvalidToken):
        accounts.consume_token(s, claim, "claim", listing_id=other.id)
    with pytest.raises(InvalidToken):
        accounts.consume_token(s, claim, "confirm")
    row = accounts.consume_token(s, claim, "claim", listing_id=clinic.id)
    assert (row.user_id, row.listing_id) == (user.id, clinic.id)


@pytest.mark.parametrize("purpose, lifetime", [("reset", timedelta(hours=1)), ("confirm", timedelta(days=7)),
                                               ("claim", timedelta(days=7))])
def test_tokens_expire(s, make_user, make_clinic, purpose, lifetime):
    user = make_user()
    listing = make_clinic().id if purpose == "claim" else None
    issued = utcnow()
    token = accounts.issue_token(s, purpose, user.id, listing_id=listing, now=issued)
    s.commit()
    just_before = issued + lifetime - timedelta(seconds=1)
    assert accounts.check_token(s, token, purpose, now=just_before)
    with pytest.raises(InvalidToken):
        accounts.consume_token(s, token, purpose, now=issued + lifetime)
    assert accounts.consume_token(s, token, purpose, now=just_before)


def test_a_newer_reset_link_voids_older_ones(s, make_user):
    user = make_user()
    older = accounts.request_reset(s, user.email)[1]
    newer = accounts.request_reset(s, user.email)[1]
    with pytest.raises(InvalidToken):
        accounts.reset_password(s, older, "a brand new passphrase")
    accounts.reset_password(s, newer, "a brand new passphrase")
    assert accounts.authenticate(s, user.email, "a brand new passphrase").ok


def test_a_password_change_voids_reset_links_and_sessions(s, make_user):
    user = make_user(password="the first passphrase")
    session_id = user.get_id()
    _, token = accounts.request_reset(s, user.email)
    accounts.change_password(s, user.id, "the first passphrase", "the second passphrase")
    assert accounts.load_session_user(s, session_id) is None
    assert accounts.load_session_user(s, user.get_id()) == user
    with pytest.raises(InvalidToken):
        accounts.check_token(s, token, "reset")


def test_change_password_checks_the_current_one(s, make_user):
    user = make_user(password="the first passphrase")
    with pytest.raises(InvalidParameter) as err:
        accounts.change_password(s, user.id, "not it at all", "the second passphrase")
    assert (err.value.field, err.value.reason) == ("current_password", "wrong_password")
    assert accounts.authenticate(s, user.email, "the first passphrase").ok


def test_authenticate_treats_unknown_wrong_and_deactivated_alike(s, make_user):
    make_user(email="owner@clinic.example", password="the right passphrase")
    closed = make_user(email="closed@clinic.example", password="the right passphrase", active=False)
    assert accounts.authenticate(s, "nobody@clinic.example", "the right passphrase").outcome == "bad_credentials"
    assert accounts.authenticate(s, "owner@clinic.example", "the wrong passphrase").outcome == "bad_credentials"
    assert accounts.authenticate(s, closed.email, "the right passphrase").outcome == "bad_credentials"
    assert accounts.authenticate(s, " OWNER@clinic.example", "the right passphrase").outcome == "success"


def test_a_password_hash_is_checked_for_unknown_addresses_too(s, make_user, monkeypatch):
    make_user(email="owner@clinic.example")
    checked = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: checked.append(h) or real(h, p))
    accounts.authenticate(s, "nobody@clinic.example", "some passphrase")
    accounts.authenticate(s, "owner@clinic.example", "some passphrase")
    assert len(checked) == 2 and all(h.startswith("scrypt:") for h in checked)


def test_deactivation_ends_sessions_and_links(s, make_user):
    user = make_user()
    session_id = user.get_id()
    _, token = accounts.request_reset(s, user.email)
    accounts.deactivate(s, user.id)
    assert accounts.load_session_user(s, session_id) is None
    with pytest.raises(InvalidToken):
        accounts.check_token(s, token, "reset")
    assert accounts.request_reset(s, user.email) == (None, None)


def test_sign_out_rotates_the_nonce(s, make_user):
    user = make_user()
    session_id = user.get_id()
    accounts.sign_out(s, user.id)
    assert accounts.load_session_user(s, session_id) is None
    assert accounts.load_session_user(s, "garbage") is None
    assert accounts.load_session_user(s, f"{user.id}:") is None


def test_register_for_a_taken_address_creates_nothing(s, make_user):
    make_user(email="owner@clinic.example", password="the owner's passphrase")
    result = accounts.register(s, "owner@clinic.example", "an attacker's passphrase")
    assert not result.created and result.confirm_token is None
    assert accounts.authenticate(s, "owner@clinic.example", "the owner's passphrase").ok
    assert len(s.execute(select(User)).scalars().all()) == 1


def test_confirmation_confirms_once(s):
    result = accounts.register(s, "new@clinic.example", "a fine new passphrase")
    assert result.created and not result.user.is_confirmed
    assert accounts.authenticate(s, "new@clinic.example", "a fine new passphrase").outcome == "unconfirmed"
    user = accounts.confirm_email(s, result.confirm_token)
    assert user.is_confirmed
    with pytest.raises(InvalidToken):
        accounts.confirm_email(s, result.confirm_token)
