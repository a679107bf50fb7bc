'use strict';
/**
 * The realistic workload's data (issue 24), shared by the app instances and the checker:
 * 100,000 item URLs, 4 items per product (a PUT to a product changes 4 URLs, invalidated by
 * its tag), bodies of 1–64 KB (log-uniform, fixed per item, uncorrelated with popularity),
 * Zipf-distributed popularity (s = 1) over a fixed shuffle of the items.
 */

const URLS = 100_000;
const ITEMS_PER_PRODUCT = 4;
const HANDLER_MS = 30;
const TTL_S = 300;
const ZIPF_S = 1;

const productOf = (id) => Math.floor(id / ITEMS_PER_PRODUCT);

/** A 32-bit integer hash (splitmix-like), deterministic per id. */
function hash(n) {
  let x = (n + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** 1,024 to 65,536 bytes, log-uniform. */
const bodySize = (id) => Math.round(1024 * 64 ** (hash(id) / 2 ** 32));

/** Exactly bodySize(id) bytes of JSON, starting `{"id":<id>,"product":<p>,"v":<v>,`. */
function renderItem(id, v) {
  const size = bodySize(id);
  const reviews = [];
  for (let i = 0, n = Math.max(0, Math.floor((size - 300) / 110)); i < n; i++) {
    reviews.push({ id: `${id}-r${i}`, author: `reviewer-${i}`, rating: (i % 5) + 1, title: `Review ${i} of item ${id}`, helpful: i * 3 });
  }
  const s = JSON.stringify({ id, product: productOf(id), v, reviews });
  return `${s.slice(0, -1)},"pad":"${'x'.repeat(size - s.length - 9)}"}`;
}

const HEAD = /^\{"id":(\d+),"product":(\d+),"v":(\d+),/;

/** { id, v } from a body's first bytes, or undefined. */
function parseHead(buf) {
  const m = HEAD.exec(buf.toString('latin1', 0, 64));
  return m ? { id: Number(m[1]), v: Number(m[3]) } : undefined;
}

/** Samples ranks 0…n-1 with P(k) ∝ 1/(k+1)^s; `random` in [0, 1). */
function zipfSampler(n = URLS, s = ZIPF_S, random = Math.random) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** s;
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  // A fixed shuffle, so the popular items are spread over products and sizes.
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = hash(i) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return order[lo];
  };
}

module.exports = { URLS, ITEMS_PER_PRODUCT, HANDLER_MS, TTL_S, ZIPF_S, productOf, bodySize, renderItem, parseHead, zipfSampler };
