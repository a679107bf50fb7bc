import { GuardLog, targetMatches, type GuardTarget } from '../../src/guard';

const none: GuardTarget = { keys: [], paths: [], prefixes: [], tags: [] };
const subject = { keys: ['k1', 'k0'], path: 'ns:/products/42', tags: ['ns:product:42', 'ns:catalog'] };

/** A log on a clock the test moves by hand. */
function log(windowMs = 1000) {
  const clock = { t: 100 };
  return { clock, log: new GuardLog(windowMs, () => clock.t) };
}

describe('targetMatches', () => {
  it.each([
    ['a key', { ...none, keys: ['k0'] }, true],
    ['the path', { ...none, paths: ['ns:/products/42'] }, true],
    ['another path', { ...none, paths: ['ns:/products/4'] }, false],
    ['a literal prefix of the path', { ...none, prefixes: ['ns:/products/4'] }, true],
    ['a prefix with glob characters, literally', { ...none, prefixes: ['ns:/products/*'] }, false],
    ['a tag', { ...none, tags: ['ns:catalog'] }, true],
    ['an unrelated tag', { ...none, tags: ['ns:product:43'] }, false],
    ['nothing', none, false],
  ] as const)('should match %s as %s', (_label, target, expected) => {
    expect(targetMatches(target, subject)).toBe(expected);
  });
});

describe('GuardLog', () => {
  describe('when nothing was invalidated', () => {
    it('should let every making through', () => {
      const { log: l } = log();
      expect(l.overlaps({ startedAt: 50 }, subject)).toBe(false);
      expect(l.quietSince({ startedAt: 50 })).toBe(true);
    });
  });

  describe('when an invalidation matched after the making started', () => {
    it.each([
      ['keys', { ...none, keys: ['k1'] }],
      ['paths', { ...none, paths: ['ns:/products/42'] }],
      ['prefixes', { ...none, prefixes: ['ns:/prod'] }],
      ['tags', { ...none, tags: ['ns:product:42'] }],
    ] as const)('should refuse it (%s)', (_label, target) => {
      const { clock, log: l } = log();
      const making = { startedAt: clock.t };
      clock.t += 5;
      l.mark(target);
      expect(l.overlaps(making, subject)).toBe(true);
    });

    it('should refuse a making that started in the same instant (ties count)', () => {
      const { clock, log: l } = log();
      l.mark({ ...none, tags: ['ns:catalog'] });
      expect(l.overlaps({ startedAt: clock.t }, subject)).toBe(true);
    });
  });

  describe('when the invalidation came before the making, or matched nothing', () => {
    it('should let it through: unrelated writes stop nothing', () => {
      const { clock, log: l } = log();
      l.mark({ ...none, paths: ['ns:/products/42'] });
      clock.t += 1;
      const making = { startedAt: clock.t };
      clock.t += 1;
      l.mark({ keys: ['other'], paths: ['ns:/events'], prefixes: ['ns:/search'], tags: ['ns:product:43'] });
      expect(l.overlaps(making, subject)).toBe(false);
    });
  });

  describe('when a making is older than the window', () => {
    it('should refuse it: its records may be gone', () => {
      const { clock, log: l } = log(1000);
      const making = { startedAt: clock.t };
      clock.t += 1000;
      expect(l.overlaps(making, subject)).toBe(true);
    });

    it('should forget records older than the window', () => {
      const { clock, log: l } = log(1000);
      l.mark({ ...none, tags: ['ns:catalog'] });
      clock.t += 1500;
      l.mark({ ...none, tags: ['x'] });
      expect(l.overlaps({ startedAt: clock.t - 500 }, subject)).toBe(false);
    });
  });
});
