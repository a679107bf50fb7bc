import { decodeEntry, encodeEntry, ENTRY_VERSION, type CachedResponse } from '../../src/entry';
import { EntryCorruptError } from '../../src/errors';

const times = { storedAt: 1, staleAt: 2, swrUntil: 3, sieUntil: 4, expiresAt: 4 };
const response: CachedResponse = {
  kind: 'response', status: 200, headers: [['content-type', 'application/octet-stream'], ['link', ['<a>', '<b>']]],
  etag: '"x"', lastModified: undefined, originAge: 3, path: 'cache:v1:http:/x', tags: ['cache:v1:http:t'], body: Buffer.from(Array.from({ length: 256 }, (_, i) => i)), ...times,
};

describe('entry codec', () => {
  describe('when the bytes are not an entry', () => {
    it.each([
      ['empty', Buffer.alloc(0)],
      ['truncated header', Buffer.from([ENTRY_VERSION, 0, 0])],
      ['another version', Buffer.concat([Buffer.from([ENTRY_VERSION + 1]), encodeEntry(response).subarray(1)])],
      ['an unknown kind', Buffer.concat([Buffer.from([ENTRY_VERSION, 9]), encodeEntry(response).subarray(2)])],
      ['metadata longer than the buffer', Buffer.from([ENTRY_VERSION, 0, 0, 0, 1, 0, 123])],
      ['metadata that is not JSON', Buffer.concat([Buffer.from([ENTRY_VERSION, 0, 0, 0, 0, 3]), Buffer.from('{{{')])],
      ['metadata of the wrong shape', Buffer.concat([Buffer.from([ENTRY_VERSION, 0, 0, 0, 0, 2]), Buffer.from('{}')])],
      ['garbage', Buffer.from('hello world, not an entry')],
    ])('should throw EntryCorruptError for %s', (_name, buf) => {
      expect(() => decodeEntry(buf)).toThrow(EntryCorruptError);
    });
  });

  describe('when round-tripping', () => {
    it('should keep a response and its raw body byte for byte', () => {
      const bytes = encodeEntry(response);
      expect(bytes[0]).toBe(ENTRY_VERSION);
      // the body is raw bytes at the end, not JSON or base64
      expect(bytes.subarray(bytes.length - 256).equals(response.body)).toBe(true);
      expect(decodeEntry(bytes)).toEqual(response);
    });

    it('should keep a vary marker and a value', () => {
      const marker = { kind: 'vary' as const, vary: ['accept-language'], path: 'p', tags: [], storedAt: 1, expiresAt: 9 };
      expect(decodeEntry(encodeEntry(marker))).toEqual(marker);
      const value = { kind: 'value' as const, path: 'p', tags: [], body: Buffer.from('{"a":1}'), ...times };
      expect(decodeEntry(encodeEntry(value))).toEqual(value);
    });

    it('should keep an empty body', () => {
      const empty = { ...response, status: 204, body: Buffer.alloc(0) };
      expect(decodeEntry(encodeEntry(empty)).kind).toBe('response');
      expect((decodeEntry(encodeEntry(empty)) as CachedResponse).body.length).toBe(0);
    });
  });
});
