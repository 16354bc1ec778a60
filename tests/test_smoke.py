def test_healthz_answers_ok_once_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_make_clinic_stores_a_published_listing(make_clinic, db_session):
    from kapfinder.models import Clinic

    clinic = make_clinic(methods=["iv", "esketamine-nasal"], rems_certified=True)
    again = db_session.get(Clinic, clinic.id)
    assert again.methods == ["iv", "esketamine-nasal"]
    assert again.services == ["esketamine", "ketamine", "psychotherapy"]
