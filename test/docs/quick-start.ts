/**
 * The README's Quick start, as a file: the README block between the region markers must
 * equal this region (test/docs/snippets.test.ts), and test/docs/quick-start.test.ts runs it.
 */
// #region quick-start
import express from 'express';
import { createCache } from 'express-response-cache';

const products = new Map([
  ['1', { id: '1', name: 'Mug', price: 12 }],
  ['2', { id: '2', name: 'Teapot', price: 30 }],
]);

const app = express();
app.use(express.json());
// one instance, mounted on every route it caches or invalidates
const cache = createCache({ ttl: 300, namespace: 'shop' });

app.get('/products', cache.middleware({ tags: ['catalog'] }), (_req, res) => {
  res.json([...products.values()]);
});
app.get('/products/:id', cache.middleware({ ttl: 900, tags: (req) => [`product:${req.params.id}`] }), (req, res) => {
  const product = products.get(req.params.id);
  if (product) res.json(product);
  else res.sendStatus(404);
});
app.put(
  '/products/:id',
  cache.invalidates((req) => ({ tags: [`product:${req.params.id}`, 'catalog'] })),
  (req, res) => {
    const product = products.get(req.params.id);
    if (!product) return res.sendStatus(404);
    product.price = Number(req.body.price);
    return res.json(product);
  },
);
// #endregion

export { app, cache, products };
