/**
 * storeContract(): one test suite every CacheStore must pass (the memory, Redis, Cluster
 * and tiered stores here; a third-party store to prove itself). It registers tests with the
 * runner's `describe` / `it` / `beforeAll` / `afterAll` (jest, or vitest with globals), or
 * with the functions given as `api` (node:test's `describe` / `it` / `before` / `after`,
 * vitest's imports), and asserts with node:assert, so it needs no test-framework types.
 *
 *   import { storeContract } from 'express-response-cache/store-contract';
 *   storeContract('MyStore', () => new MyStore(...));                  // jest, vitest globals
 *   import { describe, it, before, after } from 'node:test';
 *   storeContract('MyStore', () => new MyStore(...), { api: { describe, it, before, after } });
 *
 * The store is made once and shared by every test; each test uses its own keys, paths and
 * tags, so the store may also be shared with other suites. Two tests wait in real time
 * (expiry of entries and of a lock): about 0.5 s in all with the defaults.
 */

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { counterContract } from './contract-counters';
import type { CacheStore, StoreIndex } from './store';

/** Every test and hook of the suite is async and takes no arguments (no `done` callback). */
type TestFn = () => Promise<void>;

/**
 * The functions of a test runner the suite needs, typed loosely enough that jest's globals,
 * vitest's (globals or imports) and node:test's exports all fit: `describe` and `it`, and
 * the once-per-suite hooks under either name (`beforeAll` / `afterAll`: jest, vitest;
 * `before` / `after`: node:test). Return values are ignored.
 */
export type StoreContractApi = {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: TestFn): unknown;
} & ({ beforeAll(fn: TestFn): unknown; afterAll(fn: TestFn): unknown } | { before(fn: TestFn): unknown; after(fn: TestFn): unknown });

interface Runner {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: TestFn): unknown;
  beforeAll(fn: TestFn): unknown;
  afterAll(fn: TestFn): unknown;
}

export interface StoreContractOptions {
  /** Test functions to use instead of the runner's globals. */
  api?: StoreContractApi;
  /**
   * TTL of the entries and lock that are left to expire, in ms.
   * @default 120
   */
  ttlMs?: number;
  /**
   * How long past that TTL to wait before expecting them gone, in ms.
   * @default 200
   */
  slackMs?: number;
  /**
   * Close the store in afterAll.
   * @default true
   */
  close?: boolean;
}

// The runner's globals, typed locally so this file compiles without test-framework types.
declare const describe: Runner['describe'];
declare const it: Runner['it'];
declare const beforeAll: Runner['beforeAll'];
declare const afterAll: Runner['afterAll'];

function globalApi(): Runner {
  if (typeof describe !== 'function' || typeof it !== 'function' || typeof beforeAll !== 'function' || typeof afterAll !== 'function') {
    throw new Error(
      "storeContract: no global describe/it/beforeAll/afterAll; run it under jest (or vitest with globals), or pass options.api (node:test: { api: { describe, it, before, after } } from 'node:test')",
    );
  }
  return { describe, it, beforeAll, afterAll };
}

/** The runner behind `api`, whichever names its hooks have. */
function runnerOf(api: StoreContractApi): Runner {
  const hooks = api as Partial<Record<'beforeAll' | 'afterAll' | 'before' | 'after', (fn: TestFn) => unknown>>;
  const beforeAll = hooks.beforeAll ?? hooks.before;
  const afterAll = hooks.afterAll ?? hooks.after;
  if (typeof api.describe !== 'function' || typeof api.it !== 'function' || typeof beforeAll !== 'function' || typeof afterAll !== 'function') {
    throw new TypeError("storeContract: options.api needs describe, it, and beforeAll/afterAll (or node:test's before/after)");
  }
  return { describe: api.describe.bind(api), it: api.it.bind(api), beforeAll: beforeAll.bind(api), afterAll: afterAll.bind(api) };
}

const HOUR = 3_600_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function storeContract(name: string, makeStore: () => Promise<CacheStore> | CacheStore, options: StoreContractOptions = {}): void {
  const t = options.api ? runnerOf(options.api) : globalApi();
  const ttlMs = options.ttlMs ?? 120;
  const slackMs = options.slackMs ?? 200;
  const run = `contract:${randomBytes(4).toString('hex')}`;
  let counter = 0;
  /** A fresh namespace per test: keys, paths and tags never meet another test's. */
  const scope = (): { key(s: string): string; path(s: string): string; tag(s: string): string } => {
    const ns = `${run}:${++counter}`;
    return { key: (s) => `${ns}:k:${s}`, path: (s) => `${ns}:${s}`, tag: (s) => `${ns}:${s}` };
  };
  let store: CacheStore;
  const put = (key: string, value: Buffer | string, index: StoreIndex, ttl = HOUR): Promise<void> =>
    store.set(key, Buffer.isBuffer(value) ? value : Buffer.from(value), ttl, index);
  const has = async (key: string): Promise<boolean> => (await store.get(key)) !== undefined;

  t.describe(`storeContract: ${name}`, () => {
    t.beforeAll(async () => {
      store = await makeStore();
    });
    t.afterAll(async () => {
      if (store && options.close !== false) await store.close();
    });

    t.describe('when a key was never set', () => {
      t.it('should answer undefined from get', async () => {
        assert.equal(await store.get(scope().key('nothing')), undefined);
      });
    });

    t.describe('when bytes are set', () => {
      const cases: Array<[string, Buffer]> = [
        ['all 256 byte values', Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256))],
        ['an empty buffer', Buffer.alloc(0)],
        ['1 MB of random bytes', randomBytes(1024 * 1024)],
        ['bytes that are not UTF-8', Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1])],
      ];
      for (const [label, bytes] of cases) {
        t.it(`should give back ${label} exactly`, async () => {
          const s = scope();
          await put(s.key('bin'), bytes, { path: s.path('/bin'), tags: [] });
          const back = await store.get(s.key('bin'));
          assert.ok(Buffer.isBuffer(back), 'get should answer a Buffer');
          assert.equal(back.length, bytes.length);
          assert.ok(back.equals(bytes), 'bytes differ');
        });
      }
    });

    t.describe('when entries outlive their TTL', () => {
      t.it('should miss them and count none of them as removed', async () => {
        const s = scope();
        const index = { path: s.path('/gone'), tags: [s.tag('gone')] };
        await put(s.key('live'), 'y', { path: s.path('/live'), tags: [s.tag('live')] });
        const started = Date.now();
        await Promise.all(['a', 'b', 'c', 'd'].map((k) => put(s.key(k), 'x', index, ttlMs)));
        const there = await has(s.key('a'));
        // Each SET ran after `started` and this GET before now: under ttlMs apart, it cannot have expired.
        // (On a machine so loaded that more time passed, only the expiry half can be checked.)
        if (Date.now() - started < ttlMs) assert.ok(there, 'an entry should be there before its TTL');
        await sleep(ttlMs + slackMs);
        assert.equal(await store.get(s.key('a')), undefined);
        assert.equal(await store.delete([s.key('b')]), 0);
        assert.equal(await store.deleteByTag([s.tag('gone')]), 0);
        assert.equal(await store.deleteByPath(s.path('/gone')), 0);
        assert.equal(await store.deleteByPrefix(s.path('/go')), 0);
        assert.ok(await has(s.key('live')), 'an entry with a long TTL should stay');
      });
    });

    t.describe('when a key is overwritten', () => {
      t.it('should hold the new value', async () => {
        const s = scope();
        await put(s.key('k'), 'old', { path: s.path('/p'), tags: [] });
        await put(s.key('k'), 'new', { path: s.path('/p'), tags: [] });
        assert.equal((await store.get(s.key('k')))?.toString(), 'new');
      });

      t.it('should be found under its new path and tags only', async () => {
        const s = scope();
        await put(s.key('k'), 'old', { path: s.path('/old'), tags: [s.tag('old'), s.tag('both')] });
        await put(s.key('k'), 'new', { path: s.path('/new'), tags: [s.tag('new'), s.tag('both')] });
        assert.equal(await store.deleteByTag([s.tag('old')]), 0);
        assert.equal(await store.deleteByPath(s.path('/old')), 0);
        assert.equal(await store.deleteByPrefix(s.path('/ol')), 0);
        assert.ok(await has(s.key('k')), 'the old path and tag should not reach the new entry');
        assert.equal(await store.deleteByTag([s.tag('new')]), 1);
        assert.equal(await store.get(s.key('k')), undefined);
      });
    });

    t.describe('when deleting keys', () => {
      t.it('should count only the keys that existed, each once', async () => {
        const s = scope();
        await put(s.key('a'), '1', { path: s.path('/a'), tags: [] });
        await put(s.key('b'), '2', { path: s.path('/b'), tags: [] });
        assert.equal(await store.delete([s.key('a'), s.key('b'), s.key('never'), s.key('a')]), 2);
        assert.equal(await store.delete([s.key('a')]), 0);
        assert.equal(await store.delete([]), 0);
        assert.equal(await store.get(s.key('b')), undefined);
      });

      t.it('should leave the deleted entry out of later invalidations', async () => {
        const s = scope();
        await put(s.key('a'), '1', { path: s.path('/a'), tags: [s.tag('t')] });
        assert.equal(await store.delete([s.key('a')]), 1);
        assert.equal(await store.deleteByTag([s.tag('t')]), 0);
        assert.equal(await store.deleteByPath(s.path('/a')), 0);
      });
    });

    t.describe('when deleting by path', () => {
      t.it('should remove every key of that exact path and nothing else', async () => {
        const s = scope();
        const p = s.path('/items');
        await put(s.key('v1'), '1', { path: p, tags: [] });
        await put(s.key('v2'), '2', { path: p, tags: [s.tag('x')] });
        await put(s.key('child'), '3', { path: `${p}/1`, tags: [] });
        await put(s.key('longer'), '4', { path: `${p}s`, tags: [] });
        assert.equal(await store.deleteByPath(p), 2);
        assert.equal(await store.get(s.key('v1')), undefined);
        assert.equal(await store.get(s.key('v2')), undefined);
        assert.ok(await has(s.key('child')));
        assert.ok(await has(s.key('longer')));
        assert.equal(await store.deleteByPath(p), 0);
      });
    });

    t.describe('when deleting by prefix', () => {
      t.it('should remove every path that starts with it', async () => {
        const s = scope();
        for (const p of ['/a', '/a/b', '/ab', '/b', '/']) await put(s.key(p), p, { path: s.path(p), tags: [] });
        assert.equal(await store.deleteByPrefix(s.path('/a')), 3);
        assert.ok(await has(s.key('/b')));
        assert.ok(await has(s.key('/')));
        assert.equal(await store.get(s.key('/ab')), undefined);
      });

      const literal: Array<[string, string[], string[]]> = [
        // [prefix, removed, kept]
        ['/x*', ['/x*', '/x*/1'], ['/xa', '/x', '/xy*']],
        ['/x?', ['/x?'], ['/xa', '/xb']],
        ['/x[ab]', ['/x[ab]'], ['/xa', '/xb', '/x[a']],
        ['/x\\', ['/x\\', '/x\\y'], ['/xa']],
        ['/x{', ['/x{', '/x{y}'], ['/x%7B', '/x']],
        ['/x%7B', ['/x%7B'], ['/x{', '/x%7']],
      ];
      for (const [prefix, removed, kept] of literal) {
        t.it(`should take ${JSON.stringify(prefix)} literally, not as a pattern`, async () => {
          const s = scope();
          for (const p of [...removed, ...kept]) await put(s.key(p), p, { path: s.path(p), tags: [] });
          assert.equal(await store.deleteByPrefix(s.path(prefix)), removed.length);
          for (const p of kept) assert.ok(await has(s.key(p)), `${p} should be kept`);
          for (const p of removed) assert.equal(await store.get(s.key(p)), undefined, `${p} should be removed`);
        });
      }
    });

    t.describe('when deleting by tag', () => {
      t.it('should count an entry that carries several of the tags once', async () => {
        const s = scope();
        await put(s.key('ab'), '1', { path: s.path('/1'), tags: [s.tag('a'), s.tag('b')] });
        await put(s.key('b'), '2', { path: s.path('/2'), tags: [s.tag('b')] });
        await put(s.key('c'), '3', { path: s.path('/3'), tags: [s.tag('c'), s.tag('a')] });
        await put(s.key('d'), '4', { path: s.path('/4'), tags: [s.tag('d')] });
        assert.equal(await store.deleteByTag([s.tag('a'), s.tag('b'), s.tag('c'), s.tag('a')]), 3);
        assert.ok(await has(s.key('d')));
        assert.equal(await store.deleteByTag([s.tag('a'), s.tag('b')]), 0);
      });

      t.it('should match tags exactly, whatever characters they hold', async () => {
        const s = scope();
        const tags = ['*', '?', '[ab]', 'a', '{x}', '}', '{', 'a:b', '%7B', '\\', ' ', 'ü'];
        for (const tag of tags) await put(s.key(tag), tag, { path: s.path('/t'), tags: [s.tag(tag)] });
        for (const tag of tags) {
          assert.equal(await store.deleteByTag([s.tag(tag)]), 1, `tag ${JSON.stringify(tag)}`);
        }
      });

      t.it('should answer 0 for tags nothing carries', async () => {
        const s = scope();
        assert.equal(await store.deleteByTag([s.tag('none')]), 0);
        assert.equal(await store.deleteByTag([]), 0);
      });
    });

    t.describe('when the store batches (getMany, setMany)', () => {
      t.it('should answer getMany in order, undefined for each miss', async () => {
        if (!store.getMany) return;
        const s = scope();
        await put(s.key('a'), 'A', { path: s.path('/m'), tags: [] });
        await put(s.key('c'), 'C', { path: s.path('/m'), tags: [] });
        const got = await store.getMany([s.key('a'), s.key('b'), s.key('c'), s.key('a')]);
        assert.deepEqual(
          got.map((b) => b?.toString()),
          ['A', undefined, 'C', 'A'],
        );
        assert.deepEqual(await store.getMany([]), []);
      });

      t.it('should store and index every entry of setMany', async () => {
        if (!store.setMany) return;
        const s = scope();
        await store.setMany([
          { key: s.key('a'), value: Buffer.from('A'), ttlMs: HOUR, index: { path: s.path('/s'), tags: [s.tag('t')] } },
          { key: s.key('b'), value: Buffer.from([0, 255]), ttlMs: HOUR, index: { path: s.path('/s'), tags: [] } },
          { key: s.key('c'), value: Buffer.from('C'), ttlMs: HOUR, index: { path: s.path('/other'), tags: [s.tag('t')] } },
        ]);
        assert.ok((await store.get(s.key('b')))?.equals(Buffer.from([0, 255])));
        assert.equal(await store.deleteByTag([s.tag('t')]), 2);
        assert.equal(await store.deleteByPath(s.path('/s')), 1);
        await store.setMany([]);
      });
    });

    t.describe('when the store locks (lock, unlock)', () => {
      t.it('should exclude a second locker until unlocked', async () => {
        if (!store.lock || !store.unlock) return;
        const key = scope().key('lock');
        const token = await store.lock(key, HOUR);
        assert.equal(typeof token, 'string');
        assert.equal(await store.lock(key, HOUR), undefined);
        await store.unlock(key, token!);
        const again = await store.lock(key, HOUR);
        assert.equal(typeof again, 'string');
        await store.unlock(key, again!);
      });

      t.it('should ignore unlock with a wrong token', async () => {
        if (!store.lock || !store.unlock) return;
        const key = scope().key('lock');
        const token = await store.lock(key, HOUR);
        await store.unlock(key, `${token}-not`);
        assert.equal(await store.lock(key, HOUR), undefined);
        await store.unlock(key, token!);
      });

      t.it('should free the lock when it expires', async () => {
        if (!store.lock || !store.unlock) return;
        const key = scope().key('lock');
        assert.equal(typeof (await store.lock(key, ttlMs)), 'string');
        await sleep(ttlMs + slackMs);
        const token = await store.lock(key, HOUR);
        assert.equal(typeof token, 'string');
        await store.unlock(key, token!);
      });

      t.it('should keep locks apart from entries of the same key', async () => {
        if (!store.lock || !store.unlock) return;
        const s = scope();
        await put(s.key('k'), 'v', { path: s.path('/l'), tags: [] });
        const token = await store.lock(s.key('k'), HOUR);
        assert.equal((await store.get(s.key('k')))?.toString(), 'v');
        await store.unlock(s.key('k'), token!);
        assert.equal((await store.get(s.key('k')))?.toString(), 'v');
      });
    });

    t.describe('when the store can peek', () => {
      t.it('should peek the bytes get gives (a local store always), or undefined, and never a deleted entry', async () => {
        if (!store.peek) return;
        const s = scope();
        await put(s.key('p'), 'bytes', { path: s.path('/peek'), tags: [] });
        const peeked = store.peek(s.key('p'));
        if (store.local) assert.equal(peeked?.toString(), 'bytes');
        else assert.ok(peeked === undefined || peeked.toString() === 'bytes');
        assert.equal(store.peek(s.key('missing')), undefined);
        await store.delete([s.key('p')]);
        assert.equal(store.peek(s.key('p')), undefined);
      });
    });

    counterContract(
      t,
      () => store,
      () => {
        const s = scope();
        return (name: string) => s.key(name);
      },
      ttlMs,
      slackMs,
    );

    t.describe('when the store has ping', () => {
      t.it('should resolve', async () => {
        if (store.ping) await store.ping();
      });
    });
  });
}
