/**
 * The counter part of storeContract() (CacheStore.counter, optional): skipped, test by
 * test, for a store without it. Kept apart so contract.ts stays one screenful of entries.
 */

import assert from 'node:assert/strict';
import type { CacheStore } from './store';

interface Its {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: () => Promise<void>): unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `keys()` gives each test its own key space. */
export function counterContract(t: Its, store: () => CacheStore, keys: () => (s: string) => string, ttlMs: number, slackMs: number): void {
  t.describe('when the store counts (counter)', () => {
    t.it('should increment atomically, answering each new value, and read, delete and clear', async () => {
      const s = store();
      if (!s.counter) return;
      const key = keys();
      const k = key('n');
      assert.equal(await s.counter({ op: 'get', key: k }), undefined);
      const got = await Promise.all(Array.from({ length: 50 }, () => s.counter!({ op: 'increment', key: k, by: 1, ttlMs: 3_600_000 })));
      assert.deepEqual(
        [...(got as number[])].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.equal(await s.counter({ op: 'increment', key: k, by: -60, ttlMs: 3_600_000 }), -10);
      assert.equal(await s.counter({ op: 'get', key: k }), -10);
      // A counter is not an entry: get() of its key is not asked to see it, and never throws.
      await s.get(k);
      assert.equal(await s.counter({ op: 'delete', key: k }), 1);
      assert.equal(await s.counter({ op: 'delete', key: k }), 0);
      await s.counter({ op: 'increment', key: key('c:1'), by: 1, ttlMs: 3_600_000 });
      await s.counter({ op: 'increment', key: key('c:2'), by: 1, ttlMs: 3_600_000 });
      await s.counter({ op: 'increment', key: key('d'), by: 1, ttlMs: 3_600_000 });
      assert.equal(await s.counter({ op: 'clear', prefix: key('c:') }), 2);
      assert.equal(await s.counter({ op: 'get', key: key('c:1') }), undefined);
      assert.equal(await s.counter({ op: 'get', key: key('d') }), 1);
    });

    t.it('should file a new counter under its tags, so deleteByTag removes it and keeps an untagged one', async () => {
      const s = store();
      if (!s.counter) return;
      const key = keys();
      const [tag, other] = [key('#tag'), key('#other')];
      const [tagged, plain, both] = [key('tagged'), key('plain'), key('both')];
      const inc = (k: string, tags?: string[]) => s.counter!({ op: 'increment', key: k, by: 1, ttlMs: 3_600_000, ...(tags ? { tags } : {}) });
      assert.equal(await inc(tagged, [tag]), 1);
      assert.equal(await inc(tagged, [tag]), 2);
      assert.equal(await inc(plain), 1);
      // Tags are fixed at creation: a later increment's tags are not filed.
      assert.equal(await inc(plain, [tag]), 2);
      assert.equal(await inc(both, [other, tag]), 1);
      // An entry under the tag goes too; each counter counts once, whatever tags reach it.
      await s.set(key('entry'), Buffer.from('x'), 3_600_000, { path: key('/p'), tags: [tag] });
      assert.equal(await s.deleteByTag([tag, other]), 3);
      assert.equal(await s.counter({ op: 'get', key: tagged }), undefined);
      assert.equal(await s.counter({ op: 'get', key: both }), undefined);
      assert.equal(await s.counter({ op: 'get', key: plain }), 2);
      assert.equal(await s.get(key('entry')), undefined);
      // Made again, under another tag: the old tag no longer reaches it.
      assert.equal(await inc(tagged, [other]), 1);
      assert.equal(await s.deleteByTag([tag]), 0);
      assert.equal(await s.counter({ op: 'get', key: tagged }), 1);
      assert.equal(await s.deleteByTag([other]), 1);
      // Deleted and made again untagged: no tag reaches it.
      assert.equal(await inc(both, [tag]), 1);
      assert.equal(await s.counter({ op: 'delete', key: both }), 1);
      assert.equal(await inc(both), 1);
      assert.equal(await s.deleteByTag([tag]), 0);
      assert.equal(await s.counter({ op: 'get', key: both }), 1);
    });

    t.it('should answer 1..N to N concurrent tagged increments of a new counter, and remove it by tag', async () => {
      const s = store();
      if (!s.counter) return;
      const key = keys();
      const k = key('n');
      const got = await Promise.all(Array.from({ length: 50 }, () => s.counter!({ op: 'increment', key: k, by: 1, ttlMs: 3_600_000, tags: [key('#t')] })));
      assert.deepEqual(
        [...(got as number[])].sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.equal(await s.deleteByTag([key('#t')]), 1);
      assert.equal(await s.counter({ op: 'get', key: k }), undefined);
    });

    t.it('should remove, by a deleteByTag begun after any increment answered, the counter that increment counted in', async () => {
      const s = store();
      if (!s.counter) return;
      const key = keys();
      for (let round = 0; round < 20; round++) {
        const [k, tag] = [key(`race${round}`), key(`#race${round}`)];
        let answered = 0;
        const incs = Array.from({ length: 5 }, () =>
          s.counter!({ op: 'increment', key: k, by: 1, ttlMs: 3_600_000, tags: [tag] }).then((v) => (answered++, v)),
        );
        await Promise.race(incs);
        // Those not answered yet may rightly count again after the delete; an answered one may not survive it.
        const pending = 5 - answered;
        await s.deleteByTag([tag]);
        await Promise.all(incs);
        const left = (await s.counter({ op: 'get', key: k })) ?? 0;
        assert.ok(left <= pending, `round ${round}: ${left} counted after the delete, only ${pending} increments were still running`);
      }
    });

    t.it('should keep a renewed tagged counter findable past its first window, and not reach one made again under other tags', async () => {
      const s = store();
      if (!s.counter) return;
      const key = keys();
      const [k, again] = [key('renewed'), key('again')];
      await s.counter({ op: 'increment', key: k, by: 1, ttlMs, tags: [key('#t')] });
      const renewed = await s.counter({ op: 'expire', key: k, ttlMs: 3_600_000 });
      // An entry keeps the old tag's index alive after `again`'s first life ends.
      await s.set(key('entry'), Buffer.from('x'), 3_600_000, { path: key('/p'), tags: [key('#old')] });
      await s.counter({ op: 'increment', key: again, by: 1, ttlMs, tags: [key('#old')] });
      await sleep(ttlMs + slackMs);
      assert.equal(await s.counter({ op: 'increment', key: again, by: 1, ttlMs: 3_600_000, tags: [key('#new')] }), 1);
      assert.equal(await s.deleteByTag([key('#old')]), 1); // the entry only
      assert.equal(await s.counter({ op: 'get', key: again }), 1);
      // Renewed inside its window (or a slow machine let it expire first: nothing more to check).
      if (renewed !== 1) return;
      assert.equal(await s.counter({ op: 'get', key: k }), 1);
      assert.equal(await s.deleteByTag([key('#t')]), 1);
      assert.equal(await s.counter({ op: 'get', key: k }), undefined);
    });

    t.it('should refuse to leave the safe integer range, changing nothing', async () => {
      const s = store();
      if (!s.counter) return;
      const key = keys();
      const k = key('big');
      assert.equal(await s.counter({ op: 'increment', key: k, by: Number.MAX_SAFE_INTEGER, ttlMs: 3_600_000 }), Number.MAX_SAFE_INTEGER);
      assert.equal(await s.counter({ op: 'increment', key: k, by: 1, ttlMs: 3_600_000 }), undefined);
      assert.equal(await s.counter({ op: 'get', key: k }), Number.MAX_SAFE_INTEGER);
    });

    t.it('should expire a counter at the end of its first window, not pushed by increments, and renew it with expire', async () => {
      const s = store();
      if (!s.counter) return;
      const key = keys();
      const [fixed, renewed] = [key('w1'), key('w2')];
      await s.counter({ op: 'increment', key: fixed, by: 1, ttlMs });
      const opened = Date.now(); // the store opened the window by now
      await s.counter({ op: 'increment', key: renewed, by: 1, ttlMs });
      assert.equal(await s.counter({ op: 'expire', key: renewed, ttlMs: 3_600_000 }), 1);
      assert.equal(await s.counter({ op: 'expire', key: key('none'), ttlMs: 3_600_000 }), 0);
      await sleep(ttlMs / 2);
      const second = await s.counter({ op: 'increment', key: fixed, by: 1, ttlMs: 3_600_000 });
      // A loaded machine may oversleep past the window (and a store's clock may be coarse):
      // then the increment rightly opened a new one (1 h), and there is nothing to check.
      await sleep(Math.max(0, opened + ttlMs + slackMs - Date.now()));
      if (second === 2) assert.equal(await s.counter({ op: 'get', key: fixed }), undefined);
      assert.equal(await s.counter({ op: 'get', key: renewed }), 1);
    });
  });
}
