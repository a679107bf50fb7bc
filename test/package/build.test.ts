/**
 * The package as users get it: the CommonJS build and its ESM face export the same names,
 * and `import` and `require` share one module instance (no dual-package hazard).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '../..');
let out: string;

beforeAll(() => {
  // Inside the repository, so the build resolves its dependencies from node_modules.
  out = mkdtempSync(join(root, '.build-test-'));
  execFileSync(process.execPath, [join(root, 'scripts/build.js'), '--out', out], { cwd: root, stdio: 'pipe' });
}, 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

function node(script: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }).trim();
}

describe('the built package', () => {
  it('should export the same names from ESM and CommonJS, as one instance', () => {
    const esm = JSON.stringify(`${out}/esm/index.mjs`);
    const cjs = JSON.stringify(`${out}/cjs/middleware/index.js`);
    const result = JSON.parse(
      node(`
      import * as esm from ${esm};
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)(${cjs});
      const names = (m) => Object.keys(m).filter((n) => n !== 'default' && n !== '__esModule').sort();
      console.log(JSON.stringify({ esm: names(esm), cjs: names(cjs), same: esm.createCache === cjs.createCache }));
    `),
    );
    expect(result.esm).toEqual(result.cjs);
    expect(result.same).toBe(true);
    for (const name of ['cacheResponses', 'createCache', 'MemoryStore', 'RedisStore', 'TieredStore', 'buildCacheKey', 'ttlWithJitter']) {
      expect(result.esm).toContain(name);
    }
  });

  it('should give an ESM default import exactly the documented object require(...).default gives', () => {
    const esm = JSON.stringify(`${out}/esm/index.mjs`);
    const cjs = JSON.stringify(`${out}/cjs/middleware/index.js`);
    const result = JSON.parse(
      node(`
      import erc from ${esm};
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)(${cjs});
      console.log(JSON.stringify({ esm: Object.keys(erc).sort(), cjs: Object.keys(cjs.default).sort(), same: erc === cjs.default }));
    `),
    );
    expect(result.esm).toEqual([
      'MemoryStore',
      'RedisStore',
      'TieredStore',
      'buildCacheKey',
      'cacheResponses',
      'createCache',
      'getRequestCache',
      'ttlWithJitter',
    ]);
    expect(result.cjs).toEqual(result.esm);
    expect(result.same).toBe(true);
  });

  it('should cache a response when imported as ESM', () => {
    const esm = JSON.stringify(`${out}/esm/index.mjs`);
    const out2 = node(`
      import express from 'express';
      import { cacheResponses } from ${esm};
      const app = express();
      const mw = cacheResponses();
      app.use(mw);
      let calls = 0;
      app.get('/x', (req, res) => res.json({ calls: ++calls }));
      const server = app.listen(0, '127.0.0.1', async () => {
        const url = 'http://127.0.0.1:' + server.address().port + '/x';
        const a = await fetch(url); await a.text();
        await new Promise((r) => setTimeout(r, 20));
        const b = await fetch(url);
        console.log(a.headers.get('x-cache'), b.headers.get('x-cache'), await b.text());
        server.close(); await mw.cache.close();
      });
    `);
    expect(out2).toBe('MISS HIT {"calls":1}');
  });
});
