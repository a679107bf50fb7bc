'use strict';
/**
 * Finds our middleware for the "ours" variants, once at startup, in a throwaway process:
 * the built dist (default, so the figures are for shipped code) or, with BENCH_SOURCE=src,
 * the TypeScript sources through tsx. When it is missing or does not export
 * createCache/cacheResponses, those variants are reported "unavailable" and the rest run.
 * BENCH_OURS_MODULE=<path> points at another CommonJS module with the same exports (a
 * stand-in, to test this harness itself).
 */

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const SOURCES = {
  dist: { file: path.join(ROOT, 'dist/cjs/middleware/index.js'), nodeArgs: [], how: 'npm run build' },
  src: { file: path.join(ROOT, 'middleware/index.ts'), nodeArgs: ['--import', 'tsx'], how: 'write middleware/index.ts' },
};

function resolveOurs(source, override = process.env.BENCH_OURS_MODULE) {
  const { file, nodeArgs, how } = override ? { file: path.resolve(override), nodeArgs: [], how: 'check BENCH_OURS_MODULE' } : SOURCES[source];
  const rel = path.relative(ROOT, file);
  if (!fs.existsSync(file)) return { available: false, reason: `${rel} not found (${how})`, describe: `unavailable (${rel} not found)` };
  const probe = `const m = require(${JSON.stringify(file)});
for (const f of ['createCache', 'cacheResponses']) if (typeof m[f] !== 'function') { console.error(f + ' is not exported'); process.exit(3); }`;
  try {
    execFileSync(process.execPath, [...nodeArgs, '-e', probe], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  } catch (err) {
    const why = String(err.stderr || err.message)
      .trim()
      .split('\n')
      .slice(-3)
      .join(' ');
    return { available: false, reason: `${rel} does not load: ${why}`, describe: `unavailable (${rel} does not load)` };
  }
  return { available: true, file, nodeArgs, describe: `${rel}${source === 'src' ? ' via tsx' : ''}` };
}

module.exports = { resolveOurs };
