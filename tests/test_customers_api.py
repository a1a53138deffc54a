from __future__ import annotations

import httpx


async def test_it_creates_and_fetches_a_customer(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/api/customers",
        json={"name": "Søren Ærø", "email": " Soren@Example.DK ", "phone": "22 34 56 78"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "soren@example.dk"
    assert body["phone"] == "+4522345678"
    fetched = await client.get(f"/api/customers/{body['id']}")
    assert fetched.json()["name"] == "Søren Ærø"


async def test_it_rejects_a_missing_token(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.get("/api/customers")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
