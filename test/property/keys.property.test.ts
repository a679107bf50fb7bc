/**
 * Keys, property-based (fast-check): two requests share a key exactly when they are
 * equivalent by the key rules, every key stays in its namespace, and no custom key output
 * meets a built key or another output.
 *
 * Equivalence is written here from the rules (ARCHITECTURE.md "Keys"), not from key.ts:
 * same method class (HEAD is GET), same scheme and host (case-insensitive; absent and empty
 * hosts alike), the same path as sent (as `req.path` has it: hex case, escapes and raw
 * characters apart), the same parameters per qs base name in order after the only/ignore
 * filter (matching qs base names; a name that does not decode or a part qs splits at a
 * later `]=` keeps the whole query in order), and the same vary header values (absent
 * apart from empty, whitespace folded). A second property checks the query rule against
 * Express 4's and 5's own query parsers.
 */

import querystring from 'node:querystring';
import fc from 'fast-check';
import express5 from 'express';
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
  scheme: string;
  host: string | null | undefined;
  path: string;
  query: string;
  headers: Record<string, string | undefined>;
}
const scheme = fc.constantFrom('http', 'https', 'HTTPS', 'javascript:alert(1)//', '', 'a%3A', 'a:');
const wide = fc.record({ method, scheme, host: fc.oneof(host, fc.constant(undefined)), path, query, headers });
// A tiny universe where equivalent but differently spelled requests are frequent.
const tinyValue = fc.option(fc.constantFrom('', 'x', ' x', 'x '), { nil: undefined });
const tiny = fc.record({
  method: fc.constantFrom('GET', 'HEAD'),
  scheme: fc.constantFrom('http', 'https', 'HTTP'),
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
    scheme: keep[1] ? a.scheme : b.scheme,
    host: keep[1] ? a.host : b.host,
    path: keep[2] ? a.path : b.path,
    query: keep[3] ? a.query : b.query,
    headers: keep[4] ? a.headers : b.headers,
  },
]);

// ---- the model: equivalence from the rules ----

function decode(s: string): { ok: boolean; text: string } {
  const plus = s.replace(/\+/g, ' ');
  try {
    return { ok: true, text: decodeURIComponent(plus) };
  } catch {
    return { ok: false, text: s };
  }
}

/** qs's split of `name]=value`: at the first `]=` once `%5B` / `%5D` read as brackets. */
function qsSplitsElsewhere(part: string): boolean {
  const b = part.replace(/%5B/gi, '[').replace(/%5D/gi, ']');
  return b.includes('=') && b.includes(']=') && b.indexOf(']=') + 1 !== b.indexOf('=');
}

/** Per qs base name (sorted), the kept parameters in order; a malformed name or a qs-split part keeps the query's order. */
function queryModel(raw: string, option: QueryOption | undefined): string {
  const params: Array<[string, string]> = [];
  let ordered = false;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const n = decode(eq === -1 ? part : part.slice(0, eq));
    const odd = qsSplitsElsewhere(part);
    const v = eq === -1 ? { ok: true, text: '' } : odd ? { ok: false, text: part.slice(eq + 1) } : decode(part.slice(eq + 1));
    // qs versions read unbalanced brackets apart (`a[b`: `a[b` to 6.13, `a` to 6.16).
    const plain = !n.text.includes('[') || /^(?:[^[]+|\[[^[\]]*\])(?:\[[^[\]]*\])*$/.test(n.text);
    if (!n.ok || odd || !plain) ordered = true;
    else if (option) {
      const list = 'only' in option ? option.only : option.ignore;
      const hit = (x: string) => list.some((l) => (l.endsWith('*') ? x.startsWith(l.slice(0, -1)) : x === l));
      const matches = hit(n.text) || hit(baseName(n.text));
      if ('only' in option ? !matches : matches) continue;
    }
    params.push([n.ok ? baseName(n.text) : '', `${n.ok ? 'd' : 'r'}${n.text}|${v.ok ? 'd' : 'r'}${v.text}`]);
  }
  if (!ordered) params.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(params.map(([, p]) => p));
}

function headerModel(v: string | undefined): string {
  return v === undefined ? 'absent' : 'v:' + v.replace(/\s+/g, ' ').trim();
}

function hostModel(scheme: string, h: string | null | undefined): string {
  if (h === undefined) return 'off';
  return scheme.toLowerCase() + '|' + (h ? 'h:' + h.toLowerCase() : 'none');
}

function model(r: Req, option: QueryOption | undefined, vary: boolean): string {
  return JSON.stringify([
    r.method === 'HEAD' ? 'GET' : r.method,
    hostModel(r.scheme, r.host),
    r.path,
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
  if (r.host !== undefined) [parts.host, parts.scheme] = [r.host, r.scheme];
  return buildCacheKey(parts);
}

// ---- equivalence-preserving rewrites, so that "equivalent => same key" is exercised ----

/** Reorder params with different (decoded) base names, keeping each base name's parameters in order. */
function shuffleQuery(raw: string, seed: number): string {
  const parts = raw.split('&').filter(Boolean);
  const names = parts.map((p) => decode(p.includes('=') ? p.slice(0, p.indexOf('=')) : p));
  if (names.some((n) => !n.ok || /[[\]]/.test(n.text)) || parts.some(qsSplitsElsewhere)) return raw;
  const named = parts.map((p, i) => ({ p, i, n: baseName(names[i].text) }));
  const order = [...new Set(named.map((x) => x.n))]
    .map((n, i) => ({ n, r: (i * 7919 + seed) % 101 }))
    .sort((a, b) => a.r - b.r)
    .map((x) => x.n);
  return order.flatMap((n) => named.filter((x) => x.n === n).map((x) => x.p)).join('&');
}
const rewrite = fc.tuple(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.nat(1000));
function rewritten(r: Req, [m, h, p, q, hd, seed]: [boolean, boolean, boolean, boolean, boolean, number]): Req {
  return {
    method: m && (r.method === 'GET' || r.method === 'HEAD') ? (r.method === 'GET' ? 'HEAD' : 'GET') : r.method,
    scheme: p ? (r.scheme === r.scheme.toUpperCase() ? r.scheme.toLowerCase() : r.scheme.toUpperCase()) : r.scheme,
    host: h && r.host ? (r.host === r.host.toUpperCase() ? r.host.toLowerCase() : r.host.toUpperCase()) : h && r.host === null ? '' : r.host,
    path: r.path,
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

  it('should give an equivalent rewrite of a request (HEAD/GET, scheme and host case, param order, whitespace) the same key', () => {
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
      fc.property(request, request, fc.constantFrom('method', 'scheme', 'host', 'path', 'query', 'headers'), (a, other, part) => {
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

  describe("when Express's query parsers read the query", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- an npm alias without types
    const express4 = require('express4') as typeof express5;
    const parsers: Array<[string, (q: string) => unknown]> = [
      ['express 4 (qs, extended)', express4().get('query parser fn') as (q: string) => unknown],
      ['express 5 (querystring, simple)', express5().get('query parser fn') as (q: string) => unknown],
      ['express 5 (qs, extended)', express5().set('query parser', 'extended').get('query parser fn') as (q: string) => unknown],
      ['node:querystring', (q) => querystring.parse(q)],
    ];
    const part = fc
      .tuple(
        fc.constantFrom('a', 'a[]', 'a[0]', 'a[b]', '[a]', 'a%5B%5D', 'a%5b]', 'a[b=c]', 'a[b', 'b', 'b[]', 'a%zz', 'a+b', 'a%20b', ''),
        fc.option(fc.constantFrom('1', '2', 'c]=d', 'c%5D=d', '%3D', ']=', '%zz', ''), { nil: undefined }),
      )
      .map(([n, v]) => (v === undefined ? n : `${n}=${v}`));
    /** A query and another ordering of its parts, some respelled: the pairs most likely to meet. */
    const pair = fc
      .tuple(fc.array(part, { maxLength: 5 }), fc.array(fc.nat(100), { minLength: 5, maxLength: 5 }), fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }))
      .map(([parts, order, respell]) => {
        const other = parts
          .map((p, i) => ({ p: respell[i] ? p.replace(/\[/g, '%5B').replace(/ /g, '+') : p, r: order[i] }))
          .sort((x, y) => x.r - y.r)
          .map((x) => x.p);
        return [parts.join('&'), other.join('&')] as const;
      });

    it.each(parsers)('should never give two queries %s reads apart one key', (_name, parse) => {
      let shared = 0;
      fc.assert(
        fc.property(pair, queryOption, ([a, b], option) => {
          const filter = option ? compileNameFilter(option) : undefined;
          const same =
            buildCacheKey({ method: 'GET', path: '/', query: a, queryFilter: filter }) ===
            buildCacheKey({ method: 'GET', path: '/', query: b, queryFilter: filter });
          if (!same) return;
          shared++;
          if (option === undefined) expect(parse(b)).toEqual(parse(a));
          else {
            // With only / ignore, the kept parameters must read alike.
            const kept = (q: string) => Object.fromEntries(Object.entries(parse(q) as Record<string, unknown>).filter(([k]) => filter!(k)));
            expect(kept(b)).toEqual(kept(a));
          }
        }),
        { numRuns: 1000 },
      );
      expect(shared).toBeGreaterThan(100);
    });
  });
});
