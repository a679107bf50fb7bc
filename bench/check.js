'use strict';
/**
 * Correctness before timing: a variant that answers wrongly is reported WRONG, not timed.
 * Every 200 must carry the payload's content type and exactly its bytes (decoded, for a
 * variant that sends Accept-Encoding, whose coding must be the one compression picks); a cached
 * variant must stop calling the handler once warm; a 304 variant must answer
 * If-None-Match of the entry's ETag with 304, no body, no Content-Length/Content-Type.
 * Resolves { ok, reason?, headers (what the load generator sends), sample (a hit's headers) }.
 */

const http = require('node:http');
const zlib = require('node:zlib');
const { PATH, PAYLOADS } = require('./payload');

function get(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Wrong extends Error {}

/** The coding compression() answers `accept` with (the bench's Accept-Encoding values only). */
const codingFor = (accept) => (accept === undefined ? undefined : /\bbr\b/.test(accept) ? 'br' : 'gzip');

function decode(res) {
  switch (res.headers['content-encoding']) {
    case undefined:
      return res.body;
    case 'gzip':
      return zlib.gunzipSync(res.body);
    case 'br':
      return zlib.brotliDecompressSync(res.body);
    default:
      throw new Wrong(`unexpected content-encoding ${res.headers['content-encoding']}`);
  }
}

function expectBody(variant, res, what) {
  const { expected, type } = PAYLOADS[variant.payload];
  if (res.status !== 200) throw new Wrong(`${what}: status ${res.status}, expected 200`);
  if (res.headers['content-type'] !== type) {
    throw new Wrong(`${what}: content-type ${JSON.stringify(res.headers['content-type'])}, expected ${type}`);
  }
  const coding = codingFor(variant.accept);
  if (res.headers['content-encoding'] !== coding) {
    throw new Wrong(`${what}: content-encoding ${res.headers['content-encoding']}, expected ${coding ?? 'none'}`);
  }
  const body = decode(res);
  if (!body.equals(expected)) {
    throw new Wrong(`${what}: body differs (${body.length} bytes, expected ${expected.length}): ${body.toString('utf8', 0, 80)}`);
  }
  const length = res.headers['content-length'];
  if (length !== undefined && Number(length) !== res.body.length) {
    throw new Wrong(`${what}: content-length ${length}, body has ${res.body.length} bytes`);
  }
}

/** Request headers the variant sends on every request (checks and load alike). */
const baseHeaders = (variant) => (variant.accept === undefined ? {} : { 'accept-encoding': variant.accept });

/** Requests until the handler no longer runs (the entry is stored); answers the hit. */
async function warm(variant, server) {
  for (let i = 0; i < 50; i++) {
    const before = (await server.stats()).originCalls;
    const res = await get(server.port, PATH, baseHeaders(variant));
    expectBody(variant, res, `request ${i + 1}`);
    if ((await server.stats()).originCalls === before) return res;
    await sleep(20);
  }
  throw new Wrong('never answered from the cache: the handler ran for each of 50 requests');
}

async function checkCached(variant, server) {
  const hit = await warm(variant, server);
  const before = (await server.stats()).originCalls;
  for (let i = 0; i < 5; i++) expectBody(variant, await get(server.port, PATH, baseHeaders(variant)), `hit ${i + 1}`);
  const ran = (await server.stats()).originCalls - before;
  if (ran) throw new Wrong(`the handler ran ${ran} times for 5 requests after the entry was warm`);
  if (variant.expect !== '304') return { headers: baseHeaders(variant), sample: hit.headers };

  const etag = hit.headers.etag;
  if (!etag) throw new Wrong('the hit carries no ETag');
  const res = await get(server.port, PATH, { 'if-none-match': etag });
  if (res.status !== 304) throw new Wrong(`If-None-Match ${etag}: status ${res.status}, expected 304`);
  if (res.body.length) throw new Wrong(`304 with a ${res.body.length}-byte body`);
  for (const h of ['content-length', 'content-type']) {
    if (res.headers[h] !== undefined) throw new Wrong(`304 carries ${h}: ${res.headers[h]}`);
  }
  if ((await server.stats()).originCalls !== before) throw new Wrong('the handler ran for a conditional request on a warm entry');
  return { headers: { 'if-none-match': etag }, sample: res.headers };
}

/** New key per request: each must reach the handler and answer the same body. */
async function checkUnique(variant, server) {
  const before = (await server.stats()).originCalls;
  let res;
  for (let i = 0; i < 3; i++) {
    res = await get(server.port, `${PATH}&check=${i}`, baseHeaders(variant));
    expectBody(variant, res, `unique request ${i + 1}`);
  }
  const ran = (await server.stats()).originCalls - before;
  if (ran !== 3) throw new Wrong(`3 requests with distinct keys ran the handler ${ran} times`);
  return { headers: baseHeaders(variant), sample: res.headers };
}

async function checkVariant(variant, server) {
  try {
    if (variant.cached) return { ok: true, ...(await checkCached(variant, server)) };
    const res = await get(server.port, PATH, baseHeaders(variant));
    expectBody(variant, res, 'first request');
    if (variant.unique) return { ok: true, ...(await checkUnique(variant, server)) };
    expectBody(variant, await get(server.port, PATH, baseHeaders(variant)), 'second request');
    return { ok: true, headers: baseHeaders(variant), sample: res.headers };
  } catch (err) {
    if (err instanceof Wrong) return { ok: false, reason: err.message };
    throw err;
  }
}

module.exports = { checkVariant, get, codingFor };
