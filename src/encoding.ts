/**
 * Accept-Encoding, normalised to the content coding a response will be sent in.
 *
 * An entry that varies on Accept-Encoding (compression() mounted between the cache and
 * the handler adds `Vary: Accept-Encoding`) would otherwise be keyed by the raw header:
 * `gzip, deflate, br`, `gzip, deflate, br, zstd` and `br;q=1, gzip;q=0.8` would each be
 * a handler call and a stored copy of the same bytes. RFC 9111 §4.1 lets a cache
 * normalise selecting header values that select the same representation; the value that
 * selects the representation here is the coding compression() chooses, so the key holds
 * that coding: every spelling that gets brotli shares one variant, as Varnish does.
 *
 * The choice follows compression 1.8 exactly (it calls negotiator 0.6's
 * `encoding(['br', 'gzip', 'deflate', 'identity'], ['br', 'gzip'])`), quirks included,
 * because the stored variant is what compression produced for that choice. A request
 * that accepts none of these gets `identity`: compression then sends the body as it is.
 * An app that negotiates codings itself (zstd, say) must not rely on this folding.
 */

export type ContentCoding = 'br' | 'gzip' | 'deflate' | 'identity';

/** What compression() can produce, in the order it is given to negotiator. */
const PROVIDED: readonly ContentCoding[] = ['br', 'gzip', 'deflate', 'identity'];
/** compression()'s own preference among equally acceptable codings (server preference wins ties). */
const PREFERRED: readonly ContentCoding[] = ['br', 'gzip'];

// negotiator's element grammar: a token, then optional `;` parameters.
const ELEMENT = /^\s*([^\s;]+)\s*(?:;(.*))?$/;

interface Spec {
  readonly coding: string;
  readonly q: number;
  /** Position in the header. */
  readonly i: number;
}

interface Priority {
  readonly coding: ContentCoding;
  /** Position in PROVIDED. */
  readonly i: number;
  /** Position of the element that matched. */
  readonly o: number;
  readonly q: number;
  /** Specificity: 1 for the coding's own name, 0 for `*`. */
  readonly s: number;
}

const memo = new Map<string, ContentCoding>();
const MEMO_MAX = 64;

/**
 * The coding compression() would send for this Accept-Encoding value (RFC 9110 §12.5.3).
 * An absent or empty header gets `identity` (compression's default `enforceEncoding`).
 */
export function negotiateCoding(accept: string | undefined): ContentCoding {
  if (!accept) return 'identity';
  const known = memo.get(accept);
  if (known !== undefined) return known;
  const coding = choose(parse(accept));
  // Browsers send a handful of spellings; a hostile client's long or varied values are not kept.
  if (accept.length <= 256) {
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(accept, coding);
  }
  return coding;
}

/**
 * A request header's value as a cache key folds it: Accept-Encoding becomes the negotiated
 * coding (absent included, so no header and `identity` share a variant); any other header
 * passes through unchanged.
 */
export function foldVaryValue(name: string, raw: string | string[] | undefined): string | string[] | undefined {
  if (name !== 'accept-encoding') return raw;
  return negotiateCoding(Array.isArray(raw) ? raw.join(', ') : raw);
}

function parse(accept: string): Spec[] {
  const elements = accept.split(',');
  const specs: Spec[] = [];
  let hasIdentity = false;
  let minQ = 1;
  for (let i = 0; i < elements.length; i++) {
    const m = ELEMENT.exec(elements[i].trim());
    if (!m) continue;
    let q = 1;
    if (m[2]) {
      for (const param of m[2].split(';')) {
        const [name, value] = param.trim().split('=');
        // RFC 9110 §12.4.2: the weight; negotiator reads only a lower-case `q`, with parseFloat.
        if (name === 'q') {
          q = parseFloat(value);
          break;
        }
      }
    }
    const spec = { coding: m[1], q, i };
    specs.push(spec);
    hasIdentity ||= matches('identity', spec);
    minQ = Math.min(minQ, q || 1);
  }
  // RFC 9110 §12.5.3: identity is acceptable unless excluded (`identity;q=0`, or `*;q=0` with
  // no identity of its own). negotiator adds it at the lowest weight the header gives.
  if (!hasIdentity) specs.push({ coding: 'identity', q: minQ, i: elements.length });
  return specs;
}

/** `*` matches any coding (RFC 9110 §12.5.3); names compare case-insensitively (§8.4.1). */
function matches(coding: string, spec: Spec): boolean {
  return spec.coding === '*' || spec.coding.toLowerCase() === coding;
}

function choose(specs: readonly Spec[]): ContentCoding {
  let best: Priority | undefined;
  for (let i = 0; i < PROVIDED.length; i++) {
    const p = priority(PROVIDED[i], i, specs);
    // RFC 9110 §12.4.2: a weight of 0 means "not acceptable".
    if (!(p.q > 0)) continue;
    if (best === undefined || compare(p, best) < 0) best = p;
  }
  return best?.coding ?? 'identity';
}

/** The element that governs `coding`: the most specific, then the heaviest, then the last (negotiator). */
function priority(coding: ContentCoding, i: number, specs: readonly Spec[]): Priority {
  let p: Priority = { coding, i, o: -1, q: 0, s: 0 };
  for (const spec of specs) {
    if (!matches(coding, spec)) continue;
    const s = spec.coding === '*' ? 0 : 1;
    const c = { coding, i, o: spec.i, q: spec.q, s };
    if ((p.s - c.s || p.q - c.q || p.o - c.o) < 0) p = c;
  }
  return p;
}

/** negotiator's comparator with compression's preferred list: weight, then server preference, then order. */
function compare(a: Priority, b: Priority): number {
  if (a.q !== b.q) return b.q - a.q;
  const ap = PREFERRED.indexOf(a.coding);
  const bp = PREFERRED.indexOf(b.coding);
  if (ap === -1 && bp === -1) return b.s - a.s || a.o - b.o || a.i - b.i;
  if (ap !== -1 && bp !== -1) return ap - bp;
  return ap === -1 ? 1 : -1;
}
