"""The stub answers as a shop: browse, search, product, cart, checkout, on both backends."""

from __future__ import annotations

from tests._shop import ORDER, session


def test_catalogue_pages_search_and_product(start_stub):
    """Browsing pages through a seeded catalogue; search finds by name; a product shows its stock."""
    stub = start_stub("incident", args=["--catalogue-size", "500"])
    http = session()
    first = http.get(stub.url + "/products", params={"per_page": 10}).json()
    assert (first["total"], first["pages"], len(first["items"])) == (500, 50, 10)
    assert [p["id"] for p in first["items"]] == list(range(1, 11))
    last = http.get(stub.url + "/products", params={"per_page": 10, "page": 50}).json()
    assert [p["id"] for p in last["items"]] == list(range(491, 501))
    assert http.get(stub.url + "/products", params={"page": 51, "per_page": 10}).json()["items"] == []

    word = first["items"][7]["name"].split()[-1]
    found = http.get(stub.url + "/search", params={"q": word, "per_page": 100}).json()
    assert found["total"] >= 1 and all(word.lower() in (p["name"] + " " + p["category"]).lower()
                                       for p in found["items"])

    product = http.get(stub.url + "/products/8").json()
    assert product["id"] == 8 and product["stock"] > 0 and product["description"]
    assert http.get(stub.url + "/products/501").status_code == 404
    sale = http.get(stub.url + "/sale").json()["items"]
    assert [p["id"] for p in sale] == [1, 2, 3, 4, 5] and all(p["on_sale"] for p in sale)


def test_same_seed_gives_same_catalogue(start_stub):
    """Two stubs started with the same seed show the same products."""
    a, b = start_stub("incident"), start_stub("fixed")
    http = session()
    assert http.get(a.url + "/products/1234").json() == http.get(b.url + "/products/1234").json()


def test_cart_and_checkout_place_an_order(start_stub, db_url):
    """Cart, add twice, view, checkout: 201 with an order id and the right total; then refusals."""
    stub = start_stub("fixed", db=db_url)
    http = session()
    cart = http.post(stub.url + "/carts")
    assert cart.status_code == 201
    cart_id = cart.json()["cart_id"]
    http.post(f"{stub.url}/carts/{cart_id}/items", json={"product_id": 42, "quantity": 2}).raise_for_status()
    added = http.post(f"{stub.url}/carts/{cart_id}/items", json={"product_id": 42, "quantity": 1}).json()
    price = http.get(stub.url + "/products/42").json()["price_cents"]
    assert added["items"] == [{"product_id": 42, "quantity": 3, "unit_price_cents": price}]
    assert http.get(f"{stub.url}/carts/{cart_id}").json()["total_cents"] == 3 * price

    order = http.post(stub.url + "/checkout", json={"cart_id": cart_id, **ORDER})
    assert order.status_code == 201, order.text
    assert isinstance(order.json()["order_id"], int) and order.json()["total_cents"] == 3 * price

    again = http.post(stub.url + "/checkout", json={"cart_id": cart_id, **ORDER})
    assert (again.status_code, again.json()["error"]) == (409, "already_ordered")
    empty = http.post(stub.url + "/carts").json()["cart_id"]
    refused = http.post(stub.url + "/checkout", json={"cart_id": empty, **ORDER})
    assert (refused.status_code, refused.json()["error"]) == (409, "empty_cart")
    missing = http.post(stub.url + "/checkout", json={"cart_id": 10**6, **ORDER})
    assert (missing.status_code, missing.json()["error"]) == (404, "cart_not_found")
    assert http.post(f"{stub.url}/carts/{10**6}/items", json={"product_id": 1}).status_code == 404
    assert http.post(f"{stub.url}/carts/{cart_id}/items", json={"product_id": 10**6}).status_code == 404
    assert http.post(stub.url + "/checkout", json={"cart_id": cart_id}).status_code == 422


def test_checkout_runs_exactly_its_queries(start_stub, db_url):
    """One checkout runs queries_per_checkout queries: N-3 reads and 3 writes."""
    stub = start_stub("incident", db=db_url, args=["--queries-per-checkout", "9", "--query-time-ms", "1"])
    http = session()
    cart_id = http.post(stub.url + "/carts").json()["cart_id"]
    http.post(f"{stub.url}/carts/{cart_id}/items", json={"product_id": 7}).raise_for_status()
    before = stub.scrape_app()
    assert http.post(stub.url + "/checkout", json={"cart_id": cart_id, **ORDER}).status_code == 201
    after = stub.scrape_app()
    reads = after.total("shop_db_queries_total", kind="read") - before.total("shop_db_queries_total", kind="read")
    writes = after.total("shop_db_queries_total", kind="write") - before.total("shop_db_queries_total", kind="write")
    assert (reads, writes) == (6, 3)


def test_out_of_stock_is_refused_and_stock_kept(start_stub, db_url):
    """Buying more than the stock answers 409 out_of_stock and takes nothing."""
    stub = start_stub("fixed", db=db_url)
    http = session()
    stock = http.get(stub.url + "/products/9").json()["stock"]
    greedy, modest = (http.post(stub.url + "/carts").json()["cart_id"] for _ in range(2))
    for _ in range(stock // 10 + 1):
        http.post(f"{stub.url}/carts/{greedy}/items", json={"product_id": 9, "quantity": 10}).raise_for_status()
    refused = http.post(stub.url + "/checkout", json={"cart_id": greedy, **ORDER})
    assert (refused.status_code, refused.json()["error"]) == (409, "out_of_stock")
    http.post(f"{stub.url}/carts/{modest}/items", json={"product_id": 9, "quantity": 10}).raise_for_status()
    assert http.post(stub.url + "/checkout", json={"cart_id": modest, **ORDER}).status_code == 201
