'use strict';
/**
 * The benchmark's route and the ~2 KB JSON body every variant answers with.
 * Shared by the servers (which build it) and the checks (which know the exact bytes).
 */

const ROUTE = '/items/:id';
const ITEM_ID = '42';
const PATH = `/items/${ITEM_ID}?page=1&sort=asc`;
const SLOW_MS = 20;

/** The object a handler builds on every request (a fresh one each time, as a real handler would). */
function buildItem(id, page, sort) {
  const reviews = [];
  for (let i = 0; i < 18; i++) {
    reviews.push({
      id: `${id}-r${i}`,
      author: `reviewer-${i}`,
      rating: (i % 5) + 1,
      title: `Review ${i} of item ${id}`,
      helpful: i * 3,
    });
  }
  return {
    id,
    page: Number(page),
    sort,
    name: `Item ${id}`,
    description: 'A benchmark item whose JSON body is about two kilobytes, built fresh for every request.',
    price: { amount: 1999, currency: 'EUR' },
    tags: ['bench', 'json', 'express', 'cache'],
    stock: { warehouse: 'north', available: 17, reserved: 3 },
    reviews,
  };
}

/** Exactly what `res.json(buildItem(...))` sends for the benchmark path. */
const EXPECTED_BODY = Buffer.from(JSON.stringify(buildItem(ITEM_ID, '1', 'asc')));
const JSON_TYPE = 'application/json; charset=utf-8';

/** The Express handler; `slow` awaits SLOW_MS first (the slow origin). Counts its calls. */
function makeHandler({ slow = false, counter }) {
  return async function item(req, res) {
    counter.calls++;
    if (slow) await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
    res.json(buildItem(req.params.id, req.query.page, req.query.sort));
  };
}

module.exports = { ROUTE, ITEM_ID, PATH, SLOW_MS, EXPECTED_BODY, JSON_TYPE, buildItem, makeHandler };
