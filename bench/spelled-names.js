'use strict';
/**
 * `node bench/spelled-names.js [--base=<a build's root>]`: what sending the stored header
 * names as the handler spelled them costs a hit (issue 23), in instructions per operation,
 * counted by callgrind as (count at 120,000 ops − count at 20,000) / 100,000, so start-up
 * and compilation cancel out. Two measurements, each lower-case against spelled:
 *
 *   setheader  the bench entry's three stored fields (Content-Type, ETag, Date) set on a
 *              ServerResponse with the fields every hit sends, then writeHead(): Node's
 *              setHeader lower-cases each name, and _storeHeader's matchHeader again
 *   decode     decodeEntry of the bench entry as the cache stores it: lower-case names
 *              (codec version 2, the build at --base) against spelled (this build)
 *
 * Needs valgrind and `npm run build` (and the base build for `decode`). A few minutes.
 */

const { spawnSync } = require('node:child_process');
const http = require('node:http');
const { Socket } = require('node:net');
const path = require('node:path');
const { parseArgs } = require('./args');

const DATE = 'Tue, 01 Dec 2026 23:28:07 GMT';
const VALUES = ['application/json; charset=utf-8', 'W/"300-Mqrojin+cMJIyW7eFe+Z40x0pKI"', DATE];
const SPELLED = ['Content-Type', 'ETag', 'Date'];

/** The measured loop, run in the child under callgrind. */
function child(what, variant, n, build) {
  const names = variant === 'spelled' ? SPELLED : SPELLED.map((s) => s.toLowerCase());
  let sink = 0;
  if (what === 'setheader') {
    const req = new http.IncomingMessage(new Socket());
    for (let i = 0; i < n; i++) {
      const res = new http.ServerResponse(req);
      res.setHeader('X-Powered-By', 'Express');
      for (let j = 0; j < 3; j++) res.setHeader(names[j], VALUES[j]);
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('Content-Length', 2000);
      res.setHeader('X-Cache', 'HIT');
      res.setHeader('Age', '0');
      res.writeHead(200);
      sink += res._header.length;
    }
  } else {
    const { encodeEntry, decodeEntry } = require(path.join(build, 'dist/cjs/middleware/internals.js'));
    const storedAt = Date.parse(DATE) + 525;
    const bytes = encodeEntry({
      kind: 'response',
      status: 200,
      headers: names.map((s, j) => (s === s.toLowerCase() ? [s, VALUES[j]] : [s.toLowerCase(), VALUES[j], s])),
      etag: VALUES[1],
      lastModified: undefined,
      originAge: 0,
      path: 'cache:v1:http:/items/42',
      tags: ['cache:v1:http:items', 'cache:v1:http:item:42'],
      storedAt,
      staleAt: storedAt + 60_000,
      swrUntil: storedAt + 60_000,
      sieUntil: storedAt + 60_000,
      expiresAt: storedAt + 120_000,
      body: Buffer.alloc(2000, 0x61),
    });
    for (let i = 0; i < n; i++) sink += decodeEntry(bytes).headers.length;
  }
  if (sink < 0) console.log(sink);
}

function count(args) {
  // callgrind reports its total on stderr.
  const run = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '--predictable', __filename, '--child', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const total = Number((/Collected : (\d+)/.exec(run.stderr.toString()) || [])[1]);
  if (!total) throw new Error(`no instruction count from callgrind: ${run.stderr.toString().slice(-500)}`);
  return total;
}

function main() {
  if (process.argv[2] === '--child') return child(process.argv[3], process.argv[4], Number(process.argv[5]), process.argv[6]);
  const args = parseArgs();
  const here = path.resolve(__dirname, '..');
  const base = args.string('base');
  const runs = [
    ['setheader', 'lower', here],
    ['setheader', 'spelled', here],
  ];
  if (base) runs.push(['decode', 'lower', path.resolve(base)], ['decode', 'spelled', here]);
  for (const [what, variant, build] of runs) {
    const a = count([what, variant, '20000', build]);
    const b = count([what, variant, '120000', build]);
    console.log(`${what} ${variant}: ${Math.round((b - a) / 100_000)} instructions per op`);
  }
}

main();
