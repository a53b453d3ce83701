"""/admin/keys against real servers: the bootstrap from an open server, keys on every API
(real SDK clients), revocation answered with 401 in each API's own error shape."""

from __future__ import annotations

import anthropic
import httpx
import ollama
import openai
import pytest

from tests.conftest import MODEL_ID, ServerProcess

CONFIG_KEY = "sk-config-key-0123"
CHAT = {"model": MODEL_ID, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def _start(data_dir, *args: str) -> ServerProcess:
    srv = ServerProcess("--ctx", "512", *args, env={"IMPETUS_DATA_DIR": str(data_dir)})
    srv.wait_ready()
    return srv


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_first_key_turns_auth_on_and_survives_a_restart(tmp_path):
    srv = _start(tmp_path)
    try:
        body = httpx.get(srv.url + "/admin/keys").json()
        assert body == {"keys": [], "auth": {"required": False, "config_keys": 0, "keys": 0}}
        assert httpx.get(srv.url + "/v1/models").status_code == 200  # open: loopback, no key

        created = httpx.post(srv.url + "/admin/keys", json={"name": "laptop"})
        assert created.status_code == 201
        key = created.json()["key"]
        assert created.json()["auth"]["required"] is True
        assert httpx.get(srv.url + "/v1/models").status_code == 401
        assert httpx.get(srv.url + "/v1/models", headers=_bearer(key)).status_code == 200
        assert httpx.get(srv.url + "/health").status_code == 200  # stays public
    finally:
        srv.stop()
    srv = _start(tmp_path)
    try:
        assert httpx.get(srv.url + "/v1/models").status_code == 401
        listed = httpx.get(srv.url + "/admin/keys", headers=_bearer(key)).json()
        assert [k["name"] for k in listed["keys"]] == ["laptop"]
        assert key not in str(listed)  # the secret is shown once, at creation
        assert listed["keys"][0]["prefix"] == key[:12]
        assert listed["keys"][0]["last_used_at"] is not None
    finally:
        srv.stop()
    assert key.encode() not in (tmp_path / "keys.sqlite3").read_bytes()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    srv = _start(tmp_path_factory.mktemp("keys-data"), "--api-key", CONFIG_KEY)
    yield srv
    srv.stop()


def test_a_created_key_works_on_every_api_and_a_revoked_one_gets_401(keyed):
    admin = httpx.Client(base_url=keyed.url, headers=_bearer(CONFIG_KEY), timeout=60)
    made = admin.post("/admin/keys", json={"name": "sdk clients"}).json()
    key = made["key"]

    oa = openai.OpenAI(base_url=keyed.url + "/v1", api_key=key, max_retries=0, timeout=60)
    assert oa.chat.completions.create(**CHAT).choices
    claude = anthropic.Anthropic(base_url=keyed.url, api_key=key, max_retries=0, timeout=60)
    msg = claude.messages.create(  # the anthropic SDK sends x-api-key
        model=MODEL_ID, max_tokens=2, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.type == "message"
    olm = ollama.Client(host=keyed.url, headers=_bearer(key), timeout=60)
    assert any(m.model == MODEL_ID for m in olm.list().models)
    # The config key keeps working next to it.
    assert httpx.get(keyed.url + "/v1/models", headers=_bearer(CONFIG_KEY)).status_code == 200

    revoked = admin.delete(f"/admin/keys/{made['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert made["id"] not in str(admin.get("/admin/keys").json()["keys"])

    resp = httpx.post(keyed.url + "/v1/chat/completions", json=CHAT, headers=_bearer(key))
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        oa.chat.completions.create(**CHAT)

    resp = httpx.post(keyed.url + "/v1/messages", json=CHAT, headers={"x-api-key": key})
    assert resp.status_code == 401
    assert resp.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid API key"},
    }
    with pytest.raises(anthropic.AuthenticationError):
        claude.messages.create(model=MODEL_ID, max_tokens=2, messages=CHAT["messages"])

    resp = httpx.post(keyed.url + "/api/chat", json=CHAT, headers=_bearer(key))
    assert resp.status_code == 401
    assert resp.json() == {"error": "invalid API key"}
    with pytest.raises(ollama.ResponseError) as info:
        olm.list()
    assert info.value.status_code == 401
    admin.close()


def test_bad_requests_get_clear_errors(keyed):
    admin = httpx.Client(base_url=keyed.url, headers=_bearer(CONFIG_KEY), timeout=60)
    resp = admin.post("/admin/keys", json={"name": "   "})
    assert resp.status_code == 400 and "name" in resp.json()["error"]["message"]
    resp = admin.post("/admin/keys", json={})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "name"
    resp = admin.post("/admin/keys", json={"name": "x", "scopes": ["all"]})
    assert resp.status_code == 400
    resp = admin.delete("/admin/keys/no-such-id")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "key_not_found"
    assert httpx.get(keyed.url + "/admin/keys").status_code == 401  # managing keys needs one
    admin.close()
