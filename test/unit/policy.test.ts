import { parseCacheControl } from '../../src/cache-control';
import { isUnsafeMethod, requestBypassReason, responseNotStorableReason } from '../../src/policy';

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
      ['no-cache', { headers: { 'cache-control': 'No-Cache' } }, 'no-cache'],
      ['Vary: *', { headers: { vary: 'accept, *' } }, 'Vary: *'],
      ['event stream', { headers: { 'content-type': 'text/event-stream; charset=utf-8' } }, 'event stream'],
      ['too large', { headers: { 'content-length': '1001' } }, 'maxEntryBytes'],
    ])('%s', (_name, res, reason) => {
      expect(notStorable(res)).toContain(reason);
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

    it.each([['GET', false], ['HEAD', false], ['OPTIONS', false], ['TRACE', false], ['POST', true], ['PUT', true], ['PATCH', true], ['DELETE', true], ['PURGE', true]])(
      '%s is unsafe: %s', (method, unsafe) => {
        expect(isUnsafeMethod(method)).toBe(unsafe);
      },
    );
  });
});
