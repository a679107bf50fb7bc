import { parseCacheControl } from '../../src/cache-control';
import { isUnsafeMethod, mustRevalidate, requestBypassReason, responseNotStorableReason } from '../../src/policy';

const opts = { methods: new Set(['GET', 'HEAD']), statuses: new Set([200, 203, 204]), shareAuthorized: false, maxEntryBytes: 1000 };
const get = { method: 'GET', headers: {} };
const notStorable = (res: { status?: number; headers?: Record<string, string | string[]> }, req = get, o = opts) =>
  responseNotStorableReason(req, { status: res.status ?? 200, headers: res.headers ?? {} }, parseCacheControl(res.headers?.['cache-control']), o);

describe('policy', () => {
  describe('when a response must not be stored', () => {
    it.each([
      ['201', { status: 201 }, 'status 201'],
      ['206', { status: 206 }, 'status 206'],
      ['304', { status: 304 }, 'status 304'],
      ['500', { status: 500 }, 'status 500'],
      ['Set-Cookie', { headers: { 'set-cookie': ['a=1'] } }, 'cookie'],
      ['no-store', { headers: { 'cache-control': 'public, no-store' } }, 'no-store'],
      ['private', { headers: { 'cache-control': 'private' } }, 'private'],
      ['private="x"', { headers: { 'cache-control': 'private="set-cookie"' } }, 'private'],
      ['Vary: *', { headers: { vary: 'accept, *' } }, 'Vary: *'],
      ['event stream', { headers: { 'content-type': 'text/event-stream; charset=utf-8' } }, 'event stream'],
      ['too large', { headers: { 'content-length': '1001' } }, 'maxEntryBytes'],
    ])('%s', (_name, res, reason) => {
      expect(notStorable(res)).toContain(reason);
    });

    it('should let must-understand lift no-store for a status this cache knows, and only for one (RFC 9111 §5.2.2.3)', () => {
      const cc = 'max-age=3600, no-store, must-understand';
      expect(notStorable({ headers: { 'cache-control': cc } })).toBeUndefined();
      expect(notStorable({ status: 404, headers: { 'cache-control': cc } })).toBeUndefined();
      expect(notStorable({ status: 599, headers: { 'cache-control': cc } })).toContain('status 599');
      expect(notStorable({ status: 499, headers: { 'cache-control': 'max-age=3600, must-understand' } })).toContain('must-understand');
      // Everything else still applies: private, a cookie, and no-store without must-understand.
      expect(notStorable({ headers: { 'cache-control': `${cc}, private` } })).toContain('private');
      expect(notStorable({ headers: { 'cache-control': cc, 'set-cookie': ['a=1'] } })).toContain('cookie');
      expect(notStorable({ headers: { 'cache-control': 'max-age=3600, no-store' } })).toContain('no-store');
    });

    it('should not store a HEAD answer (it has no body)', () => {
      expect(notStorable({}, { method: 'HEAD', headers: {} })).toContain('HEAD');
    });

    it('should honour a request no-store (RFC 9111 §5.2.1.5)', () => {
      expect(notStorable({}, { method: 'GET', headers: { 'cache-control': 'no-store' } })).toContain('no-store');
    });

    it('should store an authorized answer only with public, s-maxage or must-revalidate (RFC 9111 §3.5)', () => {
      const auth = { method: 'GET', headers: { authorization: 'Bearer x' } };
      const shared = { ...opts, shareAuthorized: true };
      expect(notStorable({}, auth, shared)).toContain('authorized');
      expect(notStorable({ headers: { 'cache-control': 'public' } }, auth, shared)).toBeUndefined();
      expect(notStorable({ headers: { 'cache-control': 's-maxage=5' } }, auth, shared)).toBeUndefined();
      expect(notStorable({ headers: { 'cache-control': 'must-revalidate' } }, auth, shared)).toBeUndefined();
    });
  });

  describe('when a response may be stored', () => {
    it.each([[200], [203], [204]])('should store status %s', (status) => {
      expect(notStorable({ status })).toBeUndefined();
    });

    it('should store a response with a Vary list', () => {
      expect(notStorable({ headers: { vary: 'Accept-Language' } })).toBeUndefined();
    });
  });

  describe('when a request arrives', () => {
    it.each([
      [{ method: 'POST', headers: {} }, 'method POST'],
      [{ method: 'GET', headers: { authorization: 'Basic x' } }, 'Authorization'],
    ])('should bypass %j', (req, reason) => {
      expect(requestBypassReason(req, opts)).toContain(reason);
    });

    it('should let Authorization through with shareAuthorized', () => {
      expect(requestBypassReason({ method: 'GET', headers: { authorization: 'x' } }, { ...opts, shareAuthorized: true })).toBeUndefined();
    });

    it.each([
      ['GET', false],
      ['HEAD', false],
      ['OPTIONS', false],
      ['TRACE', false],
      ['POST', true],
      ['PUT', true],
      ['PATCH', true],
      ['DELETE', true],
      ['PURGE', true],
    ])('%s is unsafe: %s', (method, unsafe) => {
      expect(isUnsafeMethod(method)).toBe(unsafe);
    });
  });

  describe('when a status states explicit freshness or not (RFC 9111 §3, §4.2.1)', () => {
    const FRESHNESS: Array<[string, Record<string, string>]> = [
      ['none', {}],
      ['max-age', { 'cache-control': 'max-age=60' }],
      ['s-maxage', { 'cache-control': 's-maxage=60' }],
      ['Expires', { expires: 'Thu, 01 Jan 2037 00:00:00 GMT' }],
    ];
    // status -> stored without / with explicit freshness, under the default statuses
    const STATUSES: Array<[number, boolean, boolean]> = [
      [200, true, true],
      [203, true, true],
      [204, true, true],
      [201, false, true],
      [202, false, true],
      [205, false, true],
      [226, false, true],
      [206, false, false],
      [304, false, false],
      [301, false, true],
      [302, false, true],
      [307, false, true],
      [308, false, true],
      [400, false, true],
      [404, false, true],
      [410, false, true],
      [499, false, true],
      [500, false, false],
      [502, false, false],
      [503, false, false],
    ];
    for (const [status, bare, explicit] of STATUSES) {
      it.each(FRESHNESS)(`should ${explicit ? '' : 'not '}store ${status} with freshness: %s${bare ? '' : ' (but none without)'}`, (name, headers) => {
        const expected = name === 'none' ? bare : explicit;
        expect(notStorable({ status, headers }) === undefined).toBe(expected);
      });
    }

    it('should store a 5xx with explicit freshness only when statuses lists it', () => {
      const o = { ...opts, statuses: new Set([200, 503]) };
      expect(notStorable({ status: 503, headers: { 'cache-control': 'max-age=5' } }, get, o)).toBeUndefined();
      expect(notStorable({ status: 503 }, get, o)).toBeUndefined();
      expect(notStorable({ status: 500, headers: { 'cache-control': 'max-age=5' } }, get, o)).toContain('5xx only when listed');
    });

    it('should leave no-cache to engine.plan: stored, and revalidated on every use (RFC 9111 §5.2.2.4)', () => {
      expect(notStorable({ headers: { 'cache-control': 'No-Cache' } })).toBeUndefined();
    });

    it("should store a 5xx under storeErrors: 'explicit' only when it states its freshness, statuses aside (RFC 9111 §3)", () => {
      const explicit = { ...opts, storeErrors: 'explicit' as const, statuses: new Set([200, 500, 503]) };
      expect(notStorable({ status: 503, headers: { 'cache-control': 'max-age=5' } }, get, explicit)).toBeUndefined();
      expect(notStorable({ status: 599, headers: { expires: 'Thu, 01 Jan 2099 00:00:00 GMT' } }, get, explicit)).toBeUndefined();
      expect(notStorable({ status: 500, headers: { 'cache-control': 's-maxage=5' } }, get, explicit)).toBeUndefined();
      expect(notStorable({ status: 500 }, get, explicit)).toContain("storeErrors: 'explicit'");
      expect(notStorable({ status: 503, headers: { 'cache-control': 'public' } }, get, explicit)).toContain("storeErrors: 'explicit'");
      // The default: a 5xx only when listed, with or without freshness.
      expect(notStorable({ status: 503, headers: { 'cache-control': 'max-age=5' } })).toContain('status 503');
      expect(notStorable({ status: 500 }, get, { ...opts, statuses: new Set([200, 500]) })).toBeUndefined();
    });

    it('should never store 206 or 304, even listed with freshness', () => {
      const o = { ...opts, statuses: new Set([200, 206, 304]) };
      expect(notStorable({ status: 206, headers: { 'cache-control': 'max-age=5' } }, get, o)).toContain('never stored');
      expect(notStorable({ status: 304, headers: { 'cache-control': 'max-age=5' } }, get, o)).toContain('never stored');
    });

    it("should let statuses alone decide under freshness: 'ttl' (the response's freshness is not ours to read)", () => {
      const o = { ...opts, freshness: 'ttl' as const };
      expect(notStorable({ status: 404, headers: { 'cache-control': 'max-age=60' } }, get, o)).toContain('status 404');
      expect(notStorable({ status: 200, headers: { 'cache-control': 'public, max-age=0' } }, get, o)).toBeUndefined();
    });
  });

  describe("when freshness is 'ttl'", () => {
    const o = { ...opts, freshness: 'ttl' as const };
    it('should store no-cache, which only speaks to browsers here', () => {
      expect(notStorable({ headers: { 'cache-control': 'no-cache' } }, get, o)).toBeUndefined();
    });
    it.each([
      ['no-store', { 'cache-control': 'no-store' }],
      ['private', { 'cache-control': 'private, max-age=60' }],
      ['Set-Cookie', { 'set-cookie': ['a=1'] }],
    ])('should still refuse %s', (_n, headers) => {
      expect(notStorable({ headers }, get, o)).toBeDefined();
    });
    it('should still refuse an authorized answer without public, s-maxage or must-revalidate', () => {
      expect(notStorable({}, { method: 'GET', headers: { authorization: 'Bearer x' } }, { ...o, shareAuthorized: true })).toContain('authorized');
    });
  });

  describe('mustRevalidate (RFC 9111 §4.2.4)', () => {
    it.each([
      ['must-revalidate', true],
      ['proxy-revalidate', true],
      ['no-cache', true],
      ['No-Cache="set-cookie"', true],
      ['max-age=60', false],
      ['s-maxage=60', false],
      ['public, stale-while-revalidate=30', false],
      ['', false],
    ])('%s -> %s', (cc, expected) => {
      expect(mustRevalidate(parseCacheControl(cc))).toBe(expected);
    });
  });
});
