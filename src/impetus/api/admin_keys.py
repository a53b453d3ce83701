"""API keys over HTTP: `/admin/keys` (list, create, revoke), for the dashboard's Settings page.

Any accepted key may manage keys (there are no scopes). On a loopback bind with no key at all
the server is open, and creating the first key turns checking on for every API: the answer's
`auth` block says so, so the UI can warn before and keep the new key after.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from impetus.server.errors import ApiError
from impetus.server.keys import KeyStore

router = APIRouter(prefix="/admin/keys", tags=["admin"])


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


def _store(request: Request) -> KeyStore:
    return request.app.state.keys


def _auth(request: Request) -> dict:
    """Whether requests need a key now, and where the accepted keys come from."""
    config_keys = len(request.app.state.settings.api_key_values())
    managed = len(_store(request).list())
    return {"required": bool(config_keys or managed), "config_keys": config_keys, "keys": managed}


@router.get("")
async def list_keys(request: Request) -> dict:
    return {"keys": [k.to_dict() for k in _store(request).list()], "auth": _auth(request)}


@router.post("", status_code=201)
async def create_key(body: CreateBody, request: Request) -> dict:
    name = body.name.strip()
    if not name:
        raise ApiError(400, "a key needs a name", param="name", code="invalid_value")
    info, secret = _store(request).create(name)
    # The only response that ever carries the secret.
    return {**info.to_dict(), "key": secret, "auth": _auth(request)}


@router.delete("/{key_id}")
async def revoke_key(key_id: str, request: Request) -> dict:
    info = _store(request).revoke(key_id)
    if info is None:
        raise ApiError(404, f"no active API key with id '{key_id}'", code="key_not_found")
    return {**info.to_dict(), "revoked": True, "auth": _auth(request)}
