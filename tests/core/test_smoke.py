def test_app_starts_and_answers(client):
    assert client.get("/healthz").data == b"ok\n"
