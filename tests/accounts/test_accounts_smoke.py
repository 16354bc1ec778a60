from fixtures.accounts import sign_in


def test_owner_signs_in_and_reaches_the_account_page(client, make_user, login):
    user = make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    page = client.get("/account/")
    assert page.status_code == 200
    assert "owner@clinic.example" in page.get_data(as_text=True)


def test_wrong_password_is_refused(client, make_user):
    make_user(email="owner@clinic.example")
    response = sign_in(client, "owner@clinic.example", "not the password")
    assert response.status_code == 400
    assert client.get("/account/").status_code == 302
