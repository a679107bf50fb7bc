import { bodyEtag, isNotModified } from '../../src/conditional';

const etag = '"abc"';
const lm = 'Thu, 01 Jan 2026 00:00:00 GMT';

describe('conditional', () => {
  describe('when the request is malformed', () => {
    it.each([
      [{ 'if-none-match': ',,,' }],
      [{ 'if-none-match': '"' }],
      [{ 'if-none-match': 'W/' }],
      [{ 'if-modified-since': 'garbage' }],
      [{ 'if-modified-since': '' }],
    ])('%j is not a match', (headers) => {
      expect(isNotModified(headers, etag, lm)).toBe(false);
    });
  });

  describe('when matching (RFC 9110 §13.1)', () => {
    it.each([
      ['exact', { 'if-none-match': '"abc"' }, true],
      ['weak against strong (weak comparison)', { 'if-none-match': 'W/"abc"' }, true],
      ['in a list', { 'if-none-match': '"x", "abc"' }, true],
      ['star', { 'if-none-match': '*' }, true],
      ['another tag', { 'if-none-match': '"abd"' }, false],
      ['If-Modified-Since at Last-Modified', { 'if-modified-since': lm }, true],
      ['If-Modified-Since before Last-Modified', { 'if-modified-since': 'Wed, 31 Dec 2025 00:00:00 GMT' }, false],
      ['If-None-Match wins over If-Modified-Since', { 'if-none-match': '"no"', 'if-modified-since': lm }, false],
      ['not conditional', {}, false],
      // A client's no-cache (what fetch() adds beside If-None-Match) does not stop a matching 304: the cache ignores it.
      ['with Cache-Control: no-cache', { 'if-none-match': '"abc"', 'cache-control': 'no-cache' }, true],
      ['no-cache alone', { 'cache-control': 'no-cache' }, false],
    ])('%s', (_n, headers, expected) => {
      expect(isNotModified(headers, etag, lm)).toBe(expected);
    });

    it('should not match If-Modified-Since without Last-Modified', () => {
      expect(isNotModified({ 'if-modified-since': lm }, etag, undefined)).toBe(false);
    });

    it('should meet If-Modified-Since with the stored Date when there is no Last-Modified (RFC 9111 §4.3.2)', () => {
      const stored = [
        ['content-type', 'text/plain'],
        ['date', lm],
      ] as const;
      expect(isNotModified({ 'if-modified-since': lm }, etag, undefined, stored)).toBe(true);
      expect(isNotModified({ 'if-modified-since': 'Wed, 31 Dec 2025 00:00:00 GMT' }, etag, undefined, stored)).toBe(false);
      // Last-Modified, when there is one, decides; If-None-Match still wins.
      expect(isNotModified({ 'if-modified-since': lm }, etag, 'Fri, 02 Jan 2026 00:00:00 GMT', stored)).toBe(false);
      expect(isNotModified({ 'if-none-match': '"no"', 'if-modified-since': lm }, etag, undefined, stored)).toBe(false);
      expect(isNotModified({ 'if-modified-since': lm }, etag, undefined, [])).toBe(false);
    });
  });

  describe('bodyEtag', () => {
    it('should be strong and depend on the bytes only', () => {
      expect(bodyEtag(Buffer.from('hello'))).toBe(bodyEtag(Buffer.from('hello')));
      expect(bodyEtag(Buffer.from('hello'))).toMatch(/^"5-/);
      expect(bodyEtag(Buffer.from('hello'))).not.toBe(bodyEtag(Buffer.from('hellp')));
      expect(bodyEtag(Buffer.alloc(0))).toBe('"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk"');
    });
  });
});
