/**
 * The README's Quick start does what the sentence under it says: after `PUT /products/1`,
 * the next `GET /products` is a MISS with the new price (issue 23: the block once served
 * the old prices as a HIT).
 */
import request from 'supertest';
import { app, cache, products } from './quick-start';

afterAll(() => cache.close());

describe('the README Quick start', () => {
  it('should serve the list from the cache, and the new price after a PUT', async () => {
    const lists = jest.spyOn(products, 'values');
    const first = await request(app).get('/products');
    expect([first.headers['x-cache'], first.body]).toEqual([
      'MISS',
      [
        { id: '1', name: 'Mug', price: 12 },
        { id: '2', name: 'Teapot', price: 30 },
      ],
    ]);
    const second = await request(app).get('/products');
    expect([second.headers['x-cache'], second.body]).toEqual(['HIT', first.body]);
    expect(lists).toHaveBeenCalledTimes(1);

    const one = await request(app).get('/products/1');
    expect([one.headers['x-cache'], one.body.price]).toEqual(['MISS', 12]);
    expect((await request(app).get('/products/1')).headers['x-cache']).toBe('HIT');

    const put = await request(app).put('/products/1').send({ price: 15 });
    expect([put.status, put.body]).toEqual([200, { id: '1', name: 'Mug', price: 15 }]);

    const after = await request(app).get('/products');
    expect([after.headers['x-cache'], after.body]).toEqual([
      'MISS',
      [
        { id: '1', name: 'Mug', price: 15 },
        { id: '2', name: 'Teapot', price: 30 },
      ],
    ]);
    expect(lists).toHaveBeenCalledTimes(2);
    const row = await request(app).get('/products/1');
    expect([row.headers['x-cache'], row.body.price]).toEqual(['MISS', 15]);
    expect((await request(app).get('/products/2')).headers['x-cache']).toBe('MISS');
    expect((await request(app).get('/products/2')).headers['x-cache']).toBe('HIT');
  });

  it('should invalidate nothing when the PUT fails', async () => {
    expect((await request(app).get('/products')).headers['x-cache']).toBe('HIT');
    expect((await request(app).put('/products/9').send({ price: 1 })).status).toBe(404);
    expect((await request(app).get('/products')).headers['x-cache']).toBe('HIT');
  });
});
