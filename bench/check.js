'use strict';
/**
 * Correctness before timing: a variant that answers wrongly is reported WRONG, not timed.
 * Every 200 must carry the JSON content type and exactly the expected bytes; a cached
 * variant must stop calling the handler once warm; a 304 variant must answer
 * If-None-Match of the entry's ETag with 304, no body, no Content-Length/Content-Type.
 * Resolves { ok, reason?, headers (what the load generator sends), sample (a hit's headers) }.
 */

const http = require('node:http');
const { PATH, EXPECTED_BODY, JSON_TYPE } = require('./payload');

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

function expectBody(res, what) {
  if (res.status !== 200) throw new Wrong(`${what}: status ${res.status}, expected 200`);
  if (res.headers['content-type'] !== JSON_TYPE) {
    throw new Wrong(`${what}: content-type ${JSON.stringify(res.headers['content-type'])}, expected ${JSON_TYPE}`);
  }
  if (!res.body.equals(EXPECTED_BODY)) {
    throw new Wrong(`${what}: body differs (${res.body.length} bytes, expected ${EXPECTED_BODY.length}): ${res.body.toString('utf8', 0, 80)}`);
  }
  const length = res.headers['content-length'];
  if (length !== undefined && Number(length) !== EXPECTED_BODY.length) {
    throw new Wrong(`${what}: content-length ${length}, body has ${EXPECTED_BODY.length} bytes`);
  }
}

/** Requests until the handler no longer runs (the entry is stored); answers the hit. */
async function warm(variant, server) {
  for (let i = 0; i < 50; i++) {
    const before = (await server.stats()).originCalls;
    const res = await get(server.port, PATH);
    expectBody(res, `request ${i + 1}`);
    if ((await server.stats()).originCalls === before) return res;
    await sleep(20);
  }
  throw new Wrong('never answered from the cache: the handler ran for each of 50 requests');
}

async function checkCached(variant, server) {
  const hit = await warm(variant, server);
  const before = (await server.stats()).originCalls;
  for (let i = 0; i < 5; i++) expectBody(await get(server.port, PATH), `hit ${i + 1}`);
  const ran = (await server.stats()).originCalls - before;
  if (ran) throw new Wrong(`the handler ran ${ran} times for 5 requests after the entry was warm`);
  if (variant.expect !== '304') return { headers: {}, sample: hit.headers };

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
async function checkUnique(server) {
  const before = (await server.stats()).originCalls;
  let res;
  for (let i = 0; i < 3; i++) {
    res = await get(server.port, `${PATH}&check=${i}`);
    expectBody(res, `unique request ${i + 1}`);
  }
  const ran = (await server.stats()).originCalls - before;
  if (ran !== 3) throw new Wrong(`3 requests with distinct keys ran the handler ${ran} times`);
  return { headers: {}, sample: res.headers };
}

async function checkVariant(variant, server) {
  try {
    if (variant.cached) return { ok: true, ...(await checkCached(variant, server)) };
    const res = await get(server.port, PATH);
    expectBody(res, 'first request');
    if (variant.unique) return { ok: true, ...(await checkUnique(server)) };
    expectBody(await get(server.port, PATH), 'second request');
    return { ok: true, headers: {}, sample: res.headers };
  } catch (err) {
    if (err instanceof Wrong) return { ok: false, reason: err.message };
    throw err;
  }
}

module.exports = { checkVariant, get };
