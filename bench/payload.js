'use strict';
/**
 * The benchmark's route and the bodies the variants answer with. Shared by the servers
 * (which build them) and the checks (which know the exact bytes).
 *
 *   2k    ~2 KB of JSON, built fresh per request (the original scenario)
 *   12k   ~12 KB of JSON (the compression scenarios)
 *   64k   ~64 KB of JSON page
 *   1m    a 1,000,000-byte binary file (under the default maxEntryBytes of 1 MiB)
 */

const ROUTE = '/items/:id';
const ITEM_ID = '42';
const PATH = `/items/${ITEM_ID}?page=1&sort=asc`;
const SLOW_MS = 20;
const JSON_TYPE = 'application/json; charset=utf-8';
const BINARY_TYPE = 'application/octet-stream';

/** The object a handler builds on every request (a fresh one each time, as a real handler would). */
function buildItem(id, page, sort, reviewCount = 18) {
  const reviews = [];
  for (let i = 0; i < reviewCount; i++) {
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

/** Deterministic, poorly compressible bytes (a file a cache would hold as it is). */
function fileBytes(n) {
  const out = Buffer.allocUnsafe(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const FILE = fileBytes(1_000_000);

function jsonPayload(name, reviews) {
  return Object.freeze({
    name,
    type: JSON_TYPE,
    send: (req, res) => res.json(buildItem(req.params.id, req.query.page, req.query.sort, reviews)),
    expected: Buffer.from(JSON.stringify(buildItem(ITEM_ID, '1', 'asc', reviews))),
  });
}

const PAYLOADS = Object.freeze({
  '2k': jsonPayload('2k', 18),
  '12k': jsonPayload('12k', 118),
  '64k': jsonPayload('64k', 650),
  '1m': Object.freeze({ name: '1m', type: BINARY_TYPE, send: (_req, res) => res.type('bin').send(FILE), expected: FILE }),
});

/** Exactly what `res.json(buildItem(...))` sends for the benchmark path (the 2 KB body). */
const EXPECTED_BODY = PAYLOADS['2k'].expected;

/** The GET handler; `slow` awaits SLOW_MS first (the slow origin). Counts its calls. */
function makeHandler({ slow = false, counter, payload = PAYLOADS['2k'] }) {
  return async function item(req, res) {
    counter.calls++;
    if (slow) await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
    payload.send(req, res);
  };
}

module.exports = { ROUTE, ITEM_ID, PATH, SLOW_MS, EXPECTED_BODY, JSON_TYPE, BINARY_TYPE, PAYLOADS, buildItem, makeHandler };
