import { ifRangeMatches, rangeFor, type RangeTarget } from '../../src/range';

const LM = 'Tue, 01 Jan 2030 00:00:00 GMT';
const DATE = 'Tue, 01 Jan 2030 12:00:00 GMT';
const target: RangeTarget = { status: 200, size: 100, etag: '"abc"', lastModified: LM, date: DATE, acceptRanges: undefined };
const get = (headers: Record<string, string>) => ({ method: 'GET', headers });

describe('range', () => {
  describe('when the Range header is not to be honoured (RFC 9110 §14.2)', () => {
    it.each<[string, { method: string; headers: Record<string, string> }, Partial<RangeTarget>]>([
      ['no Range', get({}), {}],
      ['malformed', get({ range: 'bytes=abc' }), {}],
      ['another unit', get({ range: 'items=0-5' }), {}],
      ['several ranges (whole 200, documented)', get({ range: 'bytes=0-9,50-59' }), {}],
      ['HEAD (range handling is defined for GET only)', { method: 'HEAD', headers: { range: 'bytes=0-9' } }, {}],
      ['a stored 203', get({ range: 'bytes=0-9' }), { status: 203 }],
      ['Accept-Ranges: none from the handler', get({ range: 'bytes=0-9' }), { acceptRanges: 'none' }],
      ['If-Range with another ETag', get({ range: 'bytes=0-9', 'if-range': '"other"' }), {}],
      ['If-Range with a weak ETag (never matches, §13.1.5)', get({ range: 'bytes=0-9', 'if-range': 'W/"abc"' }), {}],
      ['If-Range against a weak stored ETag', get({ range: 'bytes=0-9', 'if-range': 'W/"abc"' }), { etag: 'W/"abc"' }],
      ['If-Range with another date', get({ range: 'bytes=0-9', 'if-range': 'Wed, 02 Jan 2030 00:00:00 GMT' }), {}],
      ['If-Range date when Last-Modified is weak (under a second before Date)', get({ range: 'bytes=0-9', 'if-range': LM }), { date: LM }],
      ['If-Range date without Last-Modified', get({ range: 'bytes=0-9', 'if-range': LM }), { lastModified: undefined }],
      ['If-Range garbage', get({ range: 'bytes=0-9', 'if-range': 'yesterday' }), {}],
    ])('%s -> the whole 200', (_name, req, over) => {
      expect(rangeFor(req, { ...target, ...over })).toEqual({ kind: 'full' });
    });
  });

  describe('when one range is asked for', () => {
    it.each<[string, Record<string, string>, number, number]>([
      ['first ten bytes', { range: 'bytes=0-9' }, 0, 9],
      ['open-ended', { range: 'bytes=90-' }, 90, 99],
      ['suffix', { range: 'bytes=-5' }, 95, 99],
      ['suffix longer than the body: all of it (RFC 9110 §14.1.2)', { range: 'bytes=-99999' }, 0, 99],
      ['suffix as long as the body', { range: 'bytes=-100' }, 0, 99],
      ['a long suffix with spaces', { range: 'bytes= -101 ' }, 0, 99],
      ['a long suffix combined with another range', { range: 'bytes=0-9, -500' }, 0, 99],
      ['end past the length is clipped', { range: 'bytes=95-500' }, 95, 99],
      ['overlapping ranges combined into one', { range: 'bytes=0-9,5-19' }, 0, 19],
      ['If-Range with the strong ETag', { range: 'bytes=10-19', 'if-range': '"abc"' }, 10, 19],
      ['If-Range with the exact Last-Modified', { range: 'bytes=10-19', 'if-range': LM }, 10, 19],
    ])('%s -> 206', (_name, headers, start, end) => {
      expect(rangeFor(get(headers), target)).toEqual({ kind: 'partial', start, end, contentRange: `bytes ${start}-${end}/100` });
    });
  });

  describe('when no range overlaps the body', () => {
    it.each([['bytes=100-'], ['bytes=500-600'], ['bytes=100-200,300-400']])('%s -> 416 with bytes */100', (range) => {
      expect(rangeFor(get({ range }), target)).toEqual({ kind: 'unsatisfiable', contentRange: 'bytes */100' });
    });

    it('should answer a byte range on an empty body with 416, a non-zero suffix with the whole 200 (§14.1.1)', () => {
      expect(rangeFor(get({ range: 'bytes=0-0' }), { ...target, size: 0 })).toEqual({ kind: 'unsatisfiable', contentRange: 'bytes */0' });
      expect(rangeFor(get({ range: 'bytes=-0' }), { ...target, size: 0 })).toEqual({ kind: 'unsatisfiable', contentRange: 'bytes */0' });
      expect(rangeFor(get({ range: 'bytes=-5' }), { ...target, size: 0 })).toEqual({ kind: 'full' });
    });

    it('should keep a zero-length suffix unsatisfiable (§14.1.1)', () => {
      expect(rangeFor(get({ range: 'bytes=-0' }), target)).toEqual({ kind: 'unsatisfiable', contentRange: 'bytes */100' });
    });
  });

  describe('ifRangeMatches', () => {
    it('should compare entity tags strongly and dates exactly', () => {
      expect(ifRangeMatches('"abc"', target)).toBe(true);
      expect(ifRangeMatches(' "abc" ', target)).toBe(true);
      expect(ifRangeMatches('"abd"', target)).toBe(false);
      expect(ifRangeMatches(LM, target)).toBe(true);
      expect(ifRangeMatches('Tue, 01 Jan 2030 00:00:01 GMT', target)).toBe(false);
    });
  });
});
