'use strict';
/**
 * `node bench/cache-tests.js <cache-tests checkout> [--options='{"storeErrors":"explicit"}'] [--out=FILE] [--list]`:
 * the public HTTP cache conformance suite (github.com/http-tests/cache-tests, the one behind
 * cache-tests.fyi) run against the built package (or BENCH_OURS=<a built
 * dist/cjs/middleware/index.js>). Its origin server runs from the checkout on
 * 127.0.0.1:8000; an Express app here puts `createCache(options).middleware()` in front of
 * a plain proxy to it on 127.0.0.1:8001 (the rev-proxy setup: cdn_only tests run too); the
 * suite's client then runs every test through 8001. Prints pass/fail counts by kind
 * (required, optimal, check), each test judged alone (a check this cache answers "no" to,
 * freshness-none with its `ttl` heuristic, would otherwise fail every test that depends on
 * it), and with --list every test that did not pass.
 *
 * The checkout needs `npm install undici` (its interim-response tests import it). 1xx
 * interim responses are forwarded by the proxy as they come (the cache never sees them).
 * Known limit of this harness, not of the cache: a Content-Length that does not match the
 * body is a proxy error (headers-store-Content-Length). headers-store-Set-Cookie fails by design: a response that
 * sets a cookie is never stored (docs/http-semantics.md). Takes about a minute.
 */

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { parseArgs } = require('./args');

const ORIGIN = 8000;
const PROXY = 8001;

async function main() {
  const args = parseArgs();
  const dir = args.variant && path.resolve(args.variant);
  if (!dir || !fs.existsSync(path.join(dir, 'test-engine/cli.mjs')))
    throw new Error('usage: node bench/cache-tests.js <cache-tests checkout> [--options=JSON] [--out=FILE] [--list]');
  const options = JSON.parse(args.string('options') || '{}');
  const ours = process.env.BENCH_OURS || path.resolve(__dirname, '../dist/cjs/middleware/index.js');
  const express = require(require.resolve('express', { paths: [ours] }));
  const { createCache } = require(ours);

  const env = {
    ...process.env,
    npm_package_config_protocol: 'http',
    npm_package_config_port: String(ORIGIN),
    npm_package_config_pidfile: path.join(dir, '.server.pid'),
  };
  const origin = spawn(process.execPath, [path.join(dir, 'test-engine/server/server.mjs')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    origin.stdout.on('data', (d) => String(d).includes('Listening') && resolve());
    origin.once('exit', (code) => reject(new Error(`the origin server exited (${code}); is port ${ORIGIN} free?`)));
  });

  const app = express();
  app.set('etag', false);
  app.disable('x-powered-by');
  app.use(createCache(options).middleware());
  app.use((req, res) => proxy(req, res));
  const server = await new Promise((resolve) => {
    const s = app.listen(PROXY, '127.0.0.1', () => resolve(s));
  });

  try {
    const cli = spawn(process.execPath, ['--no-warnings', path.join(dir, 'test-engine/cli.mjs')], {
      env: { ...env, npm_package_config_base: `http://127.0.0.1:${PROXY}`, npm_package_config_id: '' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    cli.stdout.on('data', (d) => (out += d));
    await new Promise((resolve) => cli.once('exit', resolve));
    const results = JSON.parse(out);
    if (args.string('out')) fs.writeFileSync(args.string('out'), out);
    await score(dir, results, options, args.has('list'));
  } finally {
    server.close();
    origin.kill();
  }
}

/** Forward a request to the suite's origin as it came; its answer goes back through the cache. */
function proxy(req, res) {
  const up = http.request(
    { host: '127.0.0.1', port: ORIGIN, method: req.method, path: req.originalUrl, headers: { ...req.headers, host: `127.0.0.1:${ORIGIN}` } },
    (r) => {
      res.status(r.statusCode);
      for (let i = 0; i < r.rawHeaders.length; i += 2) {
        const name = r.rawHeaders[i];
        const lower = name.toLowerCase();
        if (lower === 'keep-alive' || lower === 'transfer-encoding') continue;
        if (lower === 'connection') {
          // The field names the origin lists in Connection (RFC 9110 §7.6.1) reach the cache.
          const names = r.rawHeaders[i + 1]
            .split(',')
            .map((t) => t.trim())
            .filter((t) => t && !/^(keep-alive|close)$/i.test(t));
          if (names.length) res.setHeader('Connection', names.join(', '));
          continue;
        }
        res.append(name, r.rawHeaders[i + 1]);
      }
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => res.end(Buffer.concat(chunks)));
    },
  );
  // Interim responses go on to the client as they come (RFC 9110 §15.2): the cache never sees them.
  up.on('information', (info) => {
    if (info.statusCode === 102) res.writeProcessing();
    else if (info.statusCode === 103) res.writeEarlyHints(hints(info.rawHeaders));
  });
  up.on('error', (err) => res.status(502).end(String(err)));
  req.pipe(up);
}

/** A 103's raw header lines as writeEarlyHints() takes them (repeated names as arrays). */
function hints(rawHeaders) {
  const out = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    out[name] = name in out ? [].concat(out[name], rawHeaders[i + 1]) : rawHeaders[i + 1];
  }
  return out;
}

async function score(dir, results, options, list) {
  const tests = (await import(pathToFileURL(path.join(dir, 'tests/index.mjs')).href)).default;
  const { determineTestResult, resultTypes } = await import(pathToFileURL(path.join(dir, 'test-engine/lib/results.mjs')).href);
  const byKind = {};
  const notPassed = [];
  for (const suite of tests) {
    for (const t of suite.tests) {
      if (results[t.id] === undefined) continue;
      const r = determineTestResult(tests, t.id, results, false);
      const name = Object.keys(resultTypes).find((k) => resultTypes[k] === r);
      const kind = t.kind ?? 'required';
      byKind[kind] ??= {};
      byKind[kind][name] = (byKind[kind][name] ?? 0) + 1;
      if (name !== 'pass' && name !== 'yes') notPassed.push(`${kind} ${name} ${t.id}: ${JSON.stringify(results[t.id])}`);
    }
  }
  console.log(`options ${JSON.stringify(options)}: ${Object.keys(results).length} tests run`);
  for (const [kind, counts] of Object.entries(byKind)) {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`  ${kind}: ${counts.pass ?? counts.yes ?? 0}/${total} (${JSON.stringify(counts)})`);
  }
  if (list) console.log(notPassed.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
