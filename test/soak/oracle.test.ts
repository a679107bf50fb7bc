/**
 * The oracle itself, as a table: a checker that lets a stale or foreign body through would
 * make the soak's "0 violations" worthless, so each kind is shown to be caught, and right
 * answers are shown to pass.
 */

import { Acks, Oracle, STALLED_MS, type Got, type Sent, type ViolationKind } from './oracle';

const sent = (method: string, path: string, headers: Record<string, string> = {}): Sent => ({
  user: 'u1',
  instance: 'A',
  method,
  path,
  headers,
  at: 100,
  faults: 'none',
});
const got = (body: unknown, over: Partial<Got> = {}): Got => ({
  status: 200,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  xCache: 'HIT',
  ms: 2,
  ...over,
});

/** u1 has seen row 1 at v3 and 12 rows; someone else has seen row 2 at v5 and 13 rows. */
function acks(): { own: Acks; everyone: Acks } {
  const own = new Acks();
  own.record({ id: 1, version: 3, total: 12, instance: 'A', at: 50 }, false);
  const everyone = own.snapshot();
  everyone.record({ id: 2, version: 5, total: 13, instance: 'B', at: 60 }, false);
  return { own, everyone };
}

const rows = (r1: number, r2: number) => [
  { id: 1, version: r1 },
  { id: 2, version: r2 },
];

const cases: Array<[string, Sent, Got, ViolationKind | undefined]> = [
  ["a row older than the client's own ack", sent('GET', '/rows/1'), got({ kind: 'row', id: 1, version: 2 }), 'stale-own'],
  ["a row older than another client's earlier ack", sent('GET', '/rows/2'), got({ kind: 'row', id: 2, version: 4 }), 'stale-global'],
  ["another row's body", sent('GET', '/rows/1'), got({ kind: 'row', id: 7, version: 9 }), 'wrong-row'],
  ['a list with a row older than the own ack', sent('GET', '/rows?page=1'), got({ kind: 'list', page: 1, total: 13, rows: rows(2, 5) }), 'stale-own'],
  ['a list counting fewer rows than the own ack', sent('GET', '/rows?page=1'), got({ kind: 'list', page: 1, total: 11, rows: rows(3, 5) }), 'stale-own'],
  ["a list counting fewer rows than another's ack", sent('GET', '/rows?page=1'), got({ kind: 'list', page: 1, total: 12, rows: rows(3, 5) }), 'stale-global'],
  ["another user's /me", sent('GET', '/me'), got({ kind: 'me', user: 'u2' }), 'other-user'],
  ["another user's /me/vary", sent('GET', '/me/vary'), got({ kind: 'me', user: 'u2' }), 'other-user'],
  ["another host's page", sent('GET', '/host', { host: 'shop.example' }), got({ kind: 'host', host: 'evil.example' }), 'other-host'],
  ['a 500', sent('GET', '/rows/1'), got('oops', { status: 500 }), 'failed'],
  ['a 503 to a PUT', sent('PUT', '/rows/1'), got('oops', { status: 503 }), 'failed'],
  ['a reset connection', sent('GET', '/rows/1'), got('', { status: 0, error: 'ECONNRESET' }), 'failed'],
  ['a body that is not JSON', sent('GET', '/rows/1'), got('{"kind":"ro'), 'bad-body'],
  ['a right answer, but seconds late', sent('GET', '/rows/1'), got({ kind: 'row', id: 1, version: 3 }, { ms: STALLED_MS + 1 }), 'stalled'],
  ['the acked row version', sent('GET', '/rows/1'), got({ kind: 'row', id: 1, version: 3 }), undefined],
  ['a newer row version than acked', sent('GET', '/rows/2'), got({ kind: 'row', id: 2, version: 6 }), undefined],
  ['a row nobody acked a write of', sent('GET', '/rows/9'), got({ kind: 'row', id: 9, version: 1 }), undefined],
  ['a list at least as new as every ack', sent('GET', '/rows?page=1'), got({ kind: 'list', page: 1, total: 13, rows: rows(3, 5) }), undefined],
  ["the caller's own /me", sent('GET', '/me'), got({ kind: 'me', user: 'u1' }), undefined],
  ["the caller's host", sent('GET', '/host', { host: 'shop.example' }), got({ kind: 'host', host: 'shop.example' }), undefined],
  ["a PUT's 200", sent('PUT', '/rows/1'), got({ id: 1, version: 4 }), undefined],
  ["another user's session page", sent('GET', '/whoami/session'), got({ kind: 'me', user: 'u2' }), 'other-user'],
  ["another user's Authorization page", sent('GET', '/whoami/auth'), got({ kind: 'me', user: 'u2' }), 'other-user'],
  ["the caller's cookie page", sent('GET', '/whoami/cookies'), got({ kind: 'me', user: 'u1' }), undefined],
  ['an https page to plain http', sent('GET', '/scheme'), got({ kind: 'scheme', protocol: 'https' }), 'other-scheme'],
  ['an http page to https', sent('GET', '/scheme', { 'x-forwarded-proto': 'https' }), got({ kind: 'scheme', protocol: 'http' }), 'other-scheme'],
  ['a hostile scheme to plain http', sent('GET', '/scheme'), got({ kind: 'scheme', protocol: 'javascript:alert(1)//' }), 'other-scheme'],
  ["the forwarded scheme's page", sent('GET', '/scheme', { 'x-forwarded-proto': 'https, http' }), got({ kind: 'scheme', protocol: 'https' }), undefined],
  ['an absolute-form body to the plain target', sent('GET', '/reflect'), got({ kind: 'reflect', url: 'http://evil.example/reflect' }), 'other-target'],
  ["a fragment's body to the plain target", sent('GET', '/reflect'), got({ kind: 'reflect', url: '/reflect#"><svg/onload=alert(1)>' }), 'other-target'],
  ['the plain body to an absolute-form target', sent('GET', 'http://evil.example/reflect'), got({ kind: 'reflect', url: '/reflect' }), 'other-target'],
  ['the target as sent', sent('GET', '/reflect#x'), got({ kind: 'reflect', url: '/reflect#x' }), undefined],
];

describe('soak oracle', () => {
  describe.each(cases)('when the answer is %s', (_name, s, g, kind) => {
    it(kind ? `should count one ${kind} violation` : 'should count none', () => {
      const oracle = new Oracle();
      const { own, everyone } = acks();
      oracle.check(s, g, own, everyone);
      expect(Object.fromEntries(oracle.violations)).toEqual(kind ? { [kind]: 1 } : {});
      expect(oracle.counts.requests).toBe(1);
      expect(oracle.examples.map((v) => v.kind)).toEqual(kind ? [kind] : []);
    });
  });

  describe('when an ack is held (its writer keeps an invalidation Redis has not taken yet)', () => {
    // README, Known issues: until the kept invalidation lands, only its instance knows of it.
    function held(): { acks: Acks; kept: Set<string> } {
      const acks = new Acks();
      acks.record({ id: 1, version: 3, instance: 'A', at: 50 }, false);
      acks.record({ id: 1, version: 4, instance: 'A', at: 70 }, true);
      return { acks, kept: new Set(['A']) };
    }
    const check = (a: Acks, instance: string, version: number) => {
      const oracle = new Oracle();
      oracle.check({ ...sent('GET', '/rows/1'), instance }, got({ kind: 'row', id: 1, version }), a, a);
      return Object.fromEntries(oracle.violations);
    };

    it("should bind GETs on the writer's own instance at once", () => {
      const { acks, kept } = held();
      expect(
        check(
          acks.snapshot('A', (w) => kept.has(w)),
          'A',
          3,
        ),
      ).toEqual({ 'stale-own': 1 });
    });

    it('should not bind GETs on other instances while the writer keeps it', () => {
      const { acks, kept } = held();
      expect(
        check(
          acks.snapshot('B', (w) => kept.has(w)),
          'B',
          3,
        ),
      ).toEqual({});
    });

    it('should bind every instance once the writer has applied it', () => {
      const { acks, kept } = held();
      acks.snapshot('B', (w) => kept.has(w));
      kept.delete('A');
      expect(
        check(
          acks.snapshot('B', (w) => kept.has(w)),
          'B',
          3,
        ),
      ).toEqual({ 'stale-own': 1 });
      // Released for good: a later outage of the writer does not hold it again.
      kept.add('A');
      expect(
        check(
          acks.snapshot('B', (w) => kept.has(w)),
          'B',
          3,
        ),
      ).toEqual({ 'stale-own': 1 });
      expect(acks.heldCount).toBe(1);
    });
  });

  it('should keep only the first few examples of a kind but count them all', () => {
    const oracle = new Oracle();
    const { own, everyone } = acks();
    for (let n = 0; n < 20; n++) oracle.check(sent('GET', '/me'), got({ kind: 'me', user: 'u2' }), own, everyone);
    expect(oracle.violations.get('other-user')).toBe(20);
    expect(oracle.examples.length).toBe(5);
  });
});
