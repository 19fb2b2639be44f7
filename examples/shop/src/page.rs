//! The shop's one page, `GET /shop`: the catalogue and a form that places an order.
//!
//! Plain HTML and a little JavaScript, inline (no build step). The form's "Place order"
//! button `POST`s the order to `/orders` with `fetch(.., {credentials: 'same-origin'})`,
//! so a browser sends the page's cookies along (a test's ownership cookie too), and writes
//! the outcome into the element `#result`: `order 12 paid`, `order 12 failed: ...` for a
//! failed payment, or `error: ...`.
//!
//! Elements a browser test can rely on: `#products` (one `li` per product, `SKU: name,
//! price, stock`), the inputs `#email`, `#sku` and `#quantity`, the button `#place-order`,
//! and `#result`.

/// The page's HTML.
///
/// ```
/// let page = shop::page::SHOP_PAGE;
/// assert!(page.contains(r#"<button id="place-order" type="submit">Place order</button>"#));
/// assert!(page.contains("credentials: 'same-origin'"));
/// assert!(page.contains(r#"id="result""#));
/// ```
pub const SHOP_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Shop</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
    label { display: block; margin: 0.5rem 0; }
    #result { font-weight: bold; min-height: 1.5em; }
  </style>
</head>
<body>
  <h1>Shop</h1>
  <h2>Products</h2>
  <ul id="products"></ul>
  <h2>Order</h2>
  <form id="order-form">
    <label>Email <input id="email" name="email" type="email" value="ada@example.com" required></label>
    <label>SKU <input id="sku" name="sku" required></label>
    <label>Quantity <input id="quantity" name="quantity" type="number" min="1" value="1" required></label>
    <button id="place-order" type="submit">Place order</button>
  </form>
  <p id="result" role="status"></p>
  <script>
    const money = (cents) => (cents / 100).toFixed(2);

    async function loadProducts() {
      const list = document.getElementById('products');
      try {
        const response = await fetch('/products', { credentials: 'same-origin' });
        if (!response.ok) {
          return;
        }
        const products = await response.json();
        list.replaceChildren(...products.map((product) => {
          const item = document.createElement('li');
          item.dataset.sku = product.sku;
          item.textContent =
            `${product.sku}: ${product.name}, ${money(product.price_cents)}, ${product.stock} in stock`;
          return item;
        }));
      } catch (error) {
        console.warn('could not load the products', error);
      }
    }

    async function placeOrder(event) {
      event.preventDefault();
      const result = document.getElementById('result');
      result.textContent = 'placing the order...';
      const body = JSON.stringify({
        email: document.getElementById('email').value,
        items: [{
          sku: document.getElementById('sku').value,
          quantity: Number(document.getElementById('quantity').value),
        }],
      });
      try {
        const response = await fetch('/orders', {
          method: 'POST',
          credentials: 'same-origin',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const text = await response.text();
        let answer;
        try {
          answer = JSON.parse(text);
        } catch {
          answer = { error: text || response.statusText };
        }
        if (response.ok) {
          result.textContent = `order ${answer.id} ${answer.status}`;
        } else if (answer.order !== undefined) {
          result.textContent = `order ${answer.order} failed: ${answer.error}`;
        } else {
          result.textContent = `error: ${answer.error}`;
        }
      } catch (error) {
        result.textContent = `error: ${error}`;
      }
      await loadProducts();
    }

    document.getElementById('order-form').addEventListener('submit', placeOrder);
    loadProducts();
  </script>
</body>
</html>
"#;
