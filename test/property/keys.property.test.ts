/**
 * Keys, property-based (fast-check): two requests share a key exactly when they are
 * equivalent by the key rules, every key stays in its namespace, and no custom key output
 * meets a built key or another output.
 *
 * Equivalence is written here from the rules (ARCHITECTURE.md "Keys"), not from key.ts:
 * same method class (HEAD is GET), same host (case-insensitive; absent and empty alike),
 * same path as a sequence of characters and escapes (an escape `%HH` is its byte whatever
 * the hex case; a character outside pchar is its UTF-8 escapes; unreserved escapes are NOT
 * their characters in a key), the same values per query name in order after the
 * only/ignore filter (matching qs base names), and the same vary header values (absent
 * apart from empty, whitespace folded).
 */

import fc from 'fast-check';
import { baseName, buildCacheKey, compileNameFilter, customKey, variantKey, type CacheKeyParts } from '../../src/key';
import type { QueryOption } from '../../src/types';

const RUNS = { numRuns: 400 };
const VARY = ['accept-language', 'x-tenant'];

// ---- generators: small alphabets, so that equal and near-equal requests are common ----

const method = fc.constantFrom('GET', 'HEAD', 'POST');
const host = fc.oneof(
  fc.constant(null),
  fc.constant(''),
  fc.constantFrom('shop.example', 'SHOP.example', 'evil.example', 'a', 'A', 'a:1', '[::1]', 'a%41', 'a|b', 'a#b', 'x/y', '*', '_x', 'caf\u00e9'),
);
const pathPiece = fc.constantFrom(
  '/',
  'a',
  'A',
  'b',
  '%41',
  '%61',
  '%2f',
  '%2F',
  '%7c',
  '|',
  '%',
  '%zz',
  '?',
  '#',
  ':',
  '*',
  ' ',
  '%20',
  '\u00e9',
  '%C3%A9',
  '~',
  '%7E',
  '[',
  '@',
  ';',
  '..',
);
const path = fc.tuple(fc.boolean(), fc.array(pathPiece, { maxLength: 6 })).map(([abs, pieces]) => (abs ? '/' : '') + pieces.join(''));
const qName = fc.constantFrom('a', 'b', 'A', 'page', 'page[]', 'page[0]', '[page]', 'page%5B%5D', 'utm_x', 'a%3D', 'a+b', 'a%20b', '%zz', '', 'x%26y');
const qValue = fc.constantFrom('', '1', '2', '1+2', '1%202', '1 2', '%zz', '%41', 'A', '%26', '|', '#', 'é', '%C3%A9');
const query = fc
  .array(fc.tuple(qName, fc.option(qValue, { nil: undefined })), { maxLength: 5 })
  .map((params) => params.map(([n, v]) => (v === undefined ? n : `${n}=${v}`)).join('&'));
const headerValue = fc.option(fc.constantFrom('', 'fr', ' fr ', 'fr  de', 'fr de', 'FR', 'a|b', 'a&b=c', 'é'), { nil: undefined });
const headers = fc.record({ 'accept-language': headerValue, 'x-tenant': headerValue });
const queryOption = fc.option(fc.constantFrom<QueryOption>({ only: ['page'] }, { ignore: ['page'] }, { ignore: ['utm_*'] }, { only: ['a', 'b'] }), {
  nil: undefined,
});

interface Req {
  method: string;
  host: string | null | undefined;
  path: string;
  query: string;
  headers: Record<string, string | undefined>;
}
const wide = fc.record({ method, host: fc.oneof(host, fc.constant(undefined)), path, query, headers });
// A tiny universe where equivalent but differently spelled requests are frequent.
const tinyValue = fc.option(fc.constantFrom('', 'x', ' x', 'x '), { nil: undefined });
const tiny = fc.record({
  method: fc.constantFrom('GET', 'HEAD'),
  host: fc.constantFrom(null, '', 'a', 'A'),
  path: fc.array(fc.constantFrom('/', 'a', 'A', '%61', '%41', '|', '%7c', '%7C'), { maxLength: 3 }).map((p) => '/' + p.join('')),
  query: fc.array(fc.constantFrom('a', 'a=', 'a=1', 'a=%31', 'b=1', 'a[]=1', 'page[]=1', 'page=1'), { maxLength: 3 }).map((q) => q.join('&')),
  headers: fc.record({ 'accept-language': tinyValue, 'x-tenant': tinyValue }),
});
const request = fc.oneof(wide, tiny);
/** Two tiny requests that share most parts: each part of the second is the first's or its own. */
const closePair = fc.tuple(tiny, tiny, fc.array(fc.boolean(), { minLength: 5, maxLength: 5 })).map(([a, b, keep]): [Req, Req] => [
  a,
  {
    method: keep[0] ? a.method : b.method,
    host: keep[1] ? a.host : b.host,
    path: keep[2] ? a.path : b.path,
    query: keep[3] ? a.query : b.query,
    headers: keep[4] ? a.headers : b.headers,
  },
]);

// ---- the model: equivalence from the rules ----

const PCHAR = /[A-Za-z0-9\-._~!$&'()*+,;=:@/]/;

/** A path as units: `e<HEX>` for a byte sent as an escape or outside pchar, `c<char>` for a literal, `%` for a lone percent. */
function pathUnits(p: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < p.length; i++) {
    const ch = p[i];
    if (ch === '%' && /^[0-9a-fA-F]{2}$/.test(p.slice(i + 1, i + 3))) {
      out.push('e' + p.slice(i + 1, i + 3).toUpperCase());
      i += 2;
    } else if (ch === '%') out.push('%');
    else if (PCHAR.test(ch)) out.push('c' + ch);
    else for (const byte of Buffer.from(ch, 'utf8')) out.push('e' + byte.toString(16).toUpperCase().padStart(2, '0'));
  }
  return out;
}

function decode(s: string): { ok: boolean; text: string } {
  const plus = s.replace(/\+/g, ' ');
  try {
    return { ok: true, text: decodeURIComponent(plus) };
  } catch {
    return { ok: false, text: s };
  }
}

/** Per decoded name (sorted), the kept values in order; a malformed component stays raw and marked. */
function queryModel(raw: string, option: QueryOption | undefined): string {
  const byName = new Map<string, string[]>();
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const n = decode(eq === -1 ? part : part.slice(0, eq));
    const v = eq === -1 ? { ok: true, text: '' } : decode(part.slice(eq + 1));
    const name = n.text;
    if (option) {
      const list = 'only' in option ? option.only : option.ignore;
      const hit = (x: string) => list.some((l) => (l.endsWith('*') ? x.startsWith(l.slice(0, -1)) : x === l));
      const matches = hit(name) || hit(baseName(name));
      if ('only' in option ? !matches : matches) continue;
    }
    // Within one sort name, raw and decoded spellings are told apart, in order.
    const values = byName.get(name) ?? [];
    values.push(`${n.ok ? 'd' : 'r'}|${v.ok ? 'd' : 'r'}${v.text}`);
    byName.set(name, values);
  }
  return JSON.stringify([...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function headerModel(v: string | undefined): string {
  return v === undefined ? 'absent' : 'v:' + v.replace(/\s+/g, ' ').trim();
}

function hostModel(h: string | null | undefined): string {
  if (h === undefined) return 'off';
  return h ? 'h:' + h.toLowerCase() : 'none';
}

function model(r: Req, option: QueryOption | undefined, vary: boolean): string {
  return JSON.stringify([
    r.method === 'HEAD' ? 'GET' : r.method,
    hostModel(r.host),
    r.path.startsWith('/'),
    pathUnits(r.path),
    queryModel(r.query, option),
    vary ? VARY.map((n) => headerModel(r.headers[n])) : [],
  ]);
}

function key(r: Req, option: QueryOption | undefined, vary: boolean, keyPrefix = 'cache:v1:http:'): string {
  const parts: CacheKeyParts = {
    keyPrefix,
    method: r.method,
    path: r.path,
    query: r.query,
    headers: r.headers,
    vary: vary ? VARY : undefined,
    queryFilter: option ? compileNameFilter(option) : undefined,
  };
  if (r.host !== undefined) parts.host = r.host;
  return buildCacheKey(parts);
}

// ---- equivalence-preserving rewrites, so that "equivalent => same key" is exercised ----

function flipHexCase(s: string): string {
  return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => '%' + (h === h.toUpperCase() ? h.toLowerCase() : h.toUpperCase()));
}
function encodeOutsidePchar(p: string): string {
  let out = '';
  for (const ch of p) out += ch === '%' || PCHAR.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}
/** Reorder params with different (decoded) names, keeping each name's values in order. */
function shuffleQuery(raw: string, seed: number): string {
  const parts = raw.split('&').filter(Boolean);
  const named = parts.map((p, i) => ({ p, i, n: decode(p.includes('=') ? p.slice(0, p.indexOf('=')) : p).text }));
  const names = [...new Set(named.map((x) => x.n))];
  const order = names
    .map((n, i) => ({ n, r: (i * 7919 + seed) % 101 }))
    .sort((a, b) => a.r - b.r)
    .map((x) => x.n);
  return order.flatMap((n) => named.filter((x) => x.n === n).map((x) => x.p)).join('&');
}
const rewrite = fc.tuple(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(1000));
function rewritten(r: Req, [m, h, p, q, hd, seed]: [boolean, boolean, boolean, boolean, boolean, number]): Req {
  return {
    method: m && (r.method === 'GET' || r.method === 'HEAD') ? (r.method === 'GET' ? 'HEAD' : 'GET') : r.method,
    host: h && r.host ? (r.host === r.host.toUpperCase() ? r.host.toLowerCase() : r.host.toUpperCase()) : h && r.host === null ? '' : r.host,
    path: p ? encodeOutsidePchar(flipHexCase(r.path)) : r.path,
    query: q ? shuffleQuery(r.query, seed) : r.query,
    headers: hd ? Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, v === undefined ? v : `  ${v.replace(/ /g, '\t ')} `])) : r.headers,
  };
}

describe('keys (property-based)', () => {
  it('should give two requests one key exactly when they are equivalent (random pairs from small alphabets)', () => {
    const pair = fc.oneof(fc.tuple(wide, wide), closePair);
    fc.assert(
      fc.property(pair, queryOption, fc.boolean(), ([a, b], option, vary) => {
        expect(key(a, option, vary) === key(b, option, vary)).toBe(model(a, option, vary) === model(b, option, vary));
      }),
      { numRuns: 500 },
    );
  });

  it('should give an equivalent rewrite of a request (hex case, HEAD/GET, host case, param order, whitespace) the same key', () => {
    fc.assert(
      fc.property(request, rewrite, queryOption, fc.boolean(), (a, how, option, vary) => {
        const b = rewritten(a, how);
        expect(model(b, option, vary)).toBe(model(a, option, vary)); // the rewrite is equivalent by the rules
        expect(key(b, option, vary)).toBe(key(a, option, vary));
      }),
      RUNS,
    );
  });

  it('should keep apart requests that differ in one part only', () => {
    fc.assert(
      fc.property(request, request, fc.constantFrom('method', 'host', 'path', 'query', 'headers'), (a, other, part) => {
        const b = { ...a, [part]: other[part] } as Req;
        if (model(a, undefined, true) !== model(b, undefined, true)) expect(key(b, undefined, true)).not.toBe(key(a, undefined, true));
      }),
      RUNS,
    );
  });

  it('should keep long requests apart through their hashed form, and keep every key at most 200 bytes', () => {
    const long = fc.tuple(request, fc.nat(3), fc.constantFrom('x', 'é', '%41', '|'), fc.nat(300)).map(([r, at, ch, n]): Req => {
      const pad = ch.repeat(60 + n);
      return at === 0
        ? { ...r, path: '/' + pad + r.path }
        : at === 1
          ? { ...r, query: `q=${pad}&${r.query}` }
          : at === 2
            ? { ...r, host: pad + (r.host ?? '') }
            : { ...r, headers: { ...r.headers, 'x-tenant': pad } };
    });
    fc.assert(
      fc.property(long, long, (a, b) => {
        const ka = key(a, undefined, true);
        expect(Buffer.byteLength(ka)).toBeLessThanOrEqual(200);
        expect(ka === key(b, undefined, true)).toBe(model(a, undefined, true) === model(b, undefined, true));
      }),
      RUNS,
    );
  });

  describe('when keys come from several namespaces', () => {
    const namePart = fc.stringMatching(/^[A-Za-z0-9._-]{1,6}$/);
    const prefix = fc.tuple(namePart, namePart, namePart).map(([p, v, n]) => `${p}:${v}:${n}:`);

    it("should start every key with its own prefix and never with another namespace's", () => {
      fc.assert(
        fc.property(prefix, prefix, request, request, fc.boolean(), (pa, pb, a, b, vary) => {
          fc.pre(pa !== pb);
          const ka = key(a, undefined, vary, pa);
          expect(ka.startsWith(pa)).toBe(true);
          expect(ka.startsWith(pb)).toBe(false);
          expect(ka).not.toBe(key(b, undefined, vary, pb));
        }),
        RUNS,
      );
    });

    it('should keep custom keys and variant keys in their namespace too', () => {
      fc.assert(
        fc.property(prefix, prefix, request, fc.string({ maxLength: 30 }), (pa, pb, r, out) => {
          fc.pre(pa !== pb);
          for (const k of [customKey(pa, out), customKey(pa, pb + out), variantKey(key(r, undefined, false, pa), VARY, r.headers)]) {
            expect(k.startsWith(pa)).toBe(true);
            expect(k.startsWith(pb)).toBe(false);
          }
        }),
        RUNS,
      );
    });

    it('should not let a path or host that spells another prefix escape its namespace', () => {
      fc.assert(
        fc.property(prefix, prefix, request, (pa, pb, r) => {
          fc.pre(pa !== pb);
          const hostile: Req = { ...r, path: `/../${pb}GET:${r.path}`, host: r.host === undefined ? undefined : `${pb}${r.host ?? ''}` };
          const k = key(hostile, undefined, false, pa);
          expect(k.startsWith(pa)).toBe(true);
          expect(k.startsWith(pb)).toBe(false);
        }),
        RUNS,
      );
    });
  });

  describe('when a response varies', () => {
    it('should give two requests one variant key exactly when their primary keys and the varied header values agree', () => {
      fc.assert(
        fc.property(closePair, ([a, b]) => {
          const same = key(a, undefined, false) === key(b, undefined, false) && VARY.every((n) => headerModel(a.headers[n]) === headerModel(b.headers[n]));
          expect(variantKey(key(a, undefined, false), VARY, a.headers) === variantKey(key(b, undefined, false), VARY, b.headers)).toBe(same);
        }),
        RUNS,
      );
    });

    it('should never give a variant key that equals a primary key', () => {
      fc.assert(
        fc.property(request, request, fc.boolean(), (a, b, vary) => {
          expect(variantKey(key(a, undefined, false), VARY, a.headers)).not.toBe(key(b, undefined, vary));
        }),
        RUNS,
      );
    });
  });

  describe('when a custom key function gives the key', () => {
    const output = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 300 }),
      fc.constantFrom('GET:/a', 'x#y', '%41', 'A', 'a|v|b', ''),
    );

    it('should give two outputs one key exactly when they are the same string', () => {
      fc.assert(
        fc.property(output, output, (a, b) => {
          expect(customKey('cache:v1:http:', a) === customKey('cache:v1:http:', b)).toBe(a === b);
        }),
        RUNS,
      );
    });

    it('should never meet a built key, even an output copied from one (or from a hashed key)', () => {
      fc.assert(
        fc.property(request, fc.boolean(), fc.nat(3), (r, vary, skip) => {
          const built = key(r, undefined, vary);
          // Attacker-chosen output: the built key itself, or it without the namespace, `k:`, or both.
          const mimic = [built, built.slice('cache:v1:http:'.length), 'k:' + built, built.slice('cache:v1:http:k:'.length)][skip];
          expect(customKey('cache:v1:http:', mimic)).not.toBe(built);
          const long = customKey('cache:v1:http:', mimic + 'x'.repeat(300));
          expect(customKey('cache:v1:http:', long.slice('cache:v1:http:k:'.length))).not.toBe(long);
        }),
        RUNS,
      );
    });
  });
});
