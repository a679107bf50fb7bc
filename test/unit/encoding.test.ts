import fc from 'fast-check';
import { foldVaryValue, negotiateCoding } from '../../src/encoding';

// What compression 1.8 itself runs (index.js: `negotiator.encoding(SUPPORTED_ENCODING, PREFERRED_ENCODING)`).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Negotiator = require('negotiator') as new (req: { headers: Record<string, string> }) => {
  encoding(available: string[], preferred: string[]): string | undefined;
};
const compressionChoice = (accept: string): string =>
  new Negotiator({ headers: { 'accept-encoding': accept } }).encoding(['br', 'gzip', 'deflate', 'identity'], ['br', 'gzip']) ?? 'identity';

describe('negotiateCoding', () => {
  describe('when nothing usable is sent', () => {
    it.each<[string | undefined, string]>([
      [undefined, 'identity'],
      ['', 'identity'],
      [' , ,', 'identity'],
      ['zstd', 'identity'], // unknown codings: identity stays acceptable (RFC 9110 §12.5.3)
      ['compress, x-gzip', 'identity'], // negotiator knows no x-gzip alias
      ['identity;q=0', 'identity'], // nothing acceptable: compression sends the body as it is
      ['*;q=0', 'identity'],
      ['gzip;q=0, br;q=0, deflate;q=0', 'identity'],
    ])('%j should give %s', (accept, coding) => {
      expect(negotiateCoding(accept)).toBe(coding);
    });
  });

  describe('when browsers spell gzip differently', () => {
    it.each(['gzip', 'GZIP', 'gzip, deflate', 'deflate, gzip', ' gzip ;q=1.0 , identity; q=0.5, *;q=0', 'gzip;q=0.9, deflate;q=0.8', 'x-gzip, gzip'])(
      '%j should give gzip',
      (accept) => {
        expect(negotiateCoding(accept)).toBe('gzip');
      },
    );
  });

  describe('when brotli is acceptable', () => {
    it.each(['gzip, deflate, br', 'gzip, deflate, br, zstd', 'deflate, gzip, br, zstd', 'br', '*', 'gzip;q=0, *', 'br;q=1.0, gzip;q=0.8'])(
      '%j should give br (compression prefers it at equal weight)',
      (accept) => {
        expect(negotiateCoding(accept)).toBe('br');
      },
    );
  });

  describe('when weights decide', () => {
    it.each<[string, string]>([
      ['br;q=0.5, gzip', 'gzip'],
      ['br;q=0, *', 'gzip'], // an exact q=0 beats the wildcard (the more specific element governs)
      ['deflate', 'deflate'],
      ['deflate;q=0.5, identity', 'identity'],
      ['gzip;q=0.1', 'gzip'], // implicit identity gets the lowest weight given (a tie): compression's preference picks gzip
      ['gzip;q=0.1, identity;q=0.2', 'identity'],
      ['*;q=0.5, gzip;q=0.4', 'br'],
      ['gzip;Q=0', 'gzip'], // negotiator reads only a lower-case q
    ])('%j should give %s', (accept, coding) => {
      expect(negotiateCoding(accept)).toBe(coding);
    });
  });

  describe('when compared with compression() itself', () => {
    const token = fc.constantFrom('gzip', 'GZip', 'br', 'deflate', 'identity', '*', 'zstd', 'compress', 'x-gzip');
    const weight = fc.option(fc.constantFrom('0', '1', '0.5', '0.001', '1.0', 'abc', ''), { nil: undefined });
    const element = fc.tuple(token, weight, fc.constantFrom('', ' ', '  ')).map(([t, q, sp]) => (q === undefined ? t : `${t}${sp};${sp}q=${q}`));
    const header = fc.array(element, { maxLength: 6 }).map((els) => els.join(', '));

    it('should choose what compression chooses, for any list of codings and weights', () => {
      fc.assert(
        fc.property(header, (accept) => {
          expect(negotiateCoding(accept)).toBe(compressionChoice(accept));
        }),
        { numRuns: 2000 },
      );
    });
  });
});

describe('foldVaryValue', () => {
  it('should fold accept-encoding, absent included, and leave other headers alone', () => {
    expect(foldVaryValue('accept-encoding', undefined)).toBe('identity');
    expect(foldVaryValue('accept-encoding', ['gzip', 'br'])).toBe('br');
    expect(foldVaryValue('accept-language', 'fr, en')).toBe('fr, en');
    expect(foldVaryValue('accept-language', undefined)).toBeUndefined();
  });
});
