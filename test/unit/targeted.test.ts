import { responseDirectives, targetedDirectives } from '../../src/targeted';

describe('targeted Cache-Control (RFC 9213)', () => {
  describe('when the field is a valid Structured Fields Dictionary (§2.1)', () => {
    it.each<[string, Array<[string, string | true]>]>([
      [
        'max-age=60, must-revalidate',
        [
          ['max-age', '60'],
          ['must-revalidate', true],
        ],
      ],
      ['s-maxage=0', [['s-maxage', '0']]],
      // An inner list (a field-name list) reads as the bare directive: the stricter reading.
      [
        'no-cache=("set-cookie"), private',
        [
          ['no-cache', true],
          ['private', true],
        ],
      ],
      // Parameters are ignored; false booleans mean absent; unknown directives keep their value.
      [
        'max-age=60;a=1, no-store=?0, x=1.5',
        [
          ['max-age', '60'],
          ['x', '1.5'],
        ],
      ],
      ['max-age=-1', [['max-age', '-1']]],
      [
        'x="quoted", y=tok',
        [
          ['x', 'quoted'],
          ['y', 'tok'],
        ],
      ],
    ])('%s', (value, expected) => {
      expect([...(targetedDirectives(value) ?? new Map())]).toEqual(expected);
    });
  });

  describe('when the field is absent, empty or invalid (§2.1: ignored)', () => {
    it.each([
      [undefined],
      [''],
      ['  '],
      ['max-age=60,,'],
      ['MAX-AGE=60'],
      ['max-age=60, "x"'],
      // A known directive with a value of the wrong type makes the field invalid.
      ['max-age="60"'],
      ['max-age=1.5'],
      ['s-maxage=60, no-store=1'],
      ['private="set-cookie"'],
      ['must-revalidate=(a)'],
    ])('%j', (value) => {
      expect(targetedDirectives(value)).toBeUndefined();
    });
  });

  it('should replace Cache-Control and Expires only when the option names the field and it is valid (§2.2)', () => {
    const headers = { 'cache-control': 'no-store', expires: '0', 'cdn-cache-control': 'max-age=30' };
    expect(responseDirectives(headers, 'cdn-cache-control')).toEqual({ cc: new Map([['max-age', '30']]), expires: undefined });
    expect(responseDirectives(headers, undefined)).toEqual({ cc: new Map([['no-store', true]]), expires: '0' });
    expect(responseDirectives({ ...headers, 'cdn-cache-control': 'max-age=30,,' }, 'cdn-cache-control')).toEqual({
      cc: new Map([['no-store', true]]),
      expires: '0',
    });
  });
});
