/**
 * HitForMiss: keys answered not storable are remembered for a while, forgotten by a storable
 * answer, and bounded in number (the oldest mark goes first).
 */

import { HitForMiss } from '../../src/hit-for-miss';
import { resolveOptions } from '../../src/options';

describe('HitForMiss', () => {
  it('should remember a marked key until it is forgotten', () => {
    const h = new HitForMiss();
    expect(h.has('a')).toBe(false);
    h.mark('a');
    expect([h.has('a'), h.has('b')]).toEqual([true, false]);
    h.forget('a');
    expect([h.has('a'), h.size]).toEqual([false, 0]);
  });

  it('should forget a mark once its window has passed', () => {
    const h = new HitForMiss(0);
    h.mark('a');
    expect(h.has('a')).toBe(false);
    expect(h.size).toBe(0);
  });

  it('should keep at most `max` keys, dropping the oldest mark first', () => {
    const h = new HitForMiss(60_000, 3);
    for (const k of ['a', 'b', 'c']) h.mark(k);
    // Marked again: now the newest.
    h.mark('a');
    h.mark('d');
    expect(['a', 'b', 'c', 'd'].map((k) => h.has(k))).toEqual([true, false, true, true]);
    expect(h.size).toBe(3);
  });
});

describe('the shared option', () => {
  it('should be a boolean, false by default, inherited by routes', () => {
    expect(resolveOptions({}).shared).toBe(false);
    const base = resolveOptions({ shared: true });
    expect(resolveOptions({}, base).shared).toBe(true);
    expect(resolveOptions({ shared: false }, base).shared).toBe(false);
    expect(() => resolveOptions({ shared: 'yes' as unknown as boolean })).toThrow(/shared/);
  });
});
