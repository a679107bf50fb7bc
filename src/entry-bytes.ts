/**
 * The byte layer of the entry codec (src/entry.ts): unsigned varints, strings, the header
 * tables, and a reader that never reads past the end of what it was given. Every failure to
 * read is an EntryCorruptError; nothing here validates meaning (src/entry.ts does).
 */

import { EntryCorruptError } from './errors';

/**
 * Header names stored as one byte. Part of the format: append only, and only with a new
 * ENTRY_VERSION (a name's byte is its index + 1). At most 63 names (the code byte keeps one
 * bit for "list value" and the top bit for CONTENT_TYPES).
 */
export const HEADER_NAMES: readonly string[] = [
  'content-type',
  'etag',
  'last-modified',
  'cache-control',
  'date',
  'vary',
  'expires',
  'content-encoding',
  'content-language',
  'content-disposition',
  'content-location',
  'content-range',
  'accept-ranges',
  'link',
  'location',
  'x-powered-by',
  'server',
  'pragma',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'strict-transport-security',
  'x-content-type-options',
  'x-frame-options',
  'content-security-policy',
  'referrer-policy',
  'cross-origin-resource-policy',
  'timing-allow-origin',
  'cdn-cache-control',
  'surrogate-control',
  'x-robots-tag',
];

/**
 * How HEADER_NAMES are usually spelled, index for index (what Express, Node and the common
 * middlewares send: `res.json`'s Content-Type, `res.send`'s ETag, Node's Date, helmet's
 * and cors's names). Since ENTRY_VERSION 3 a name's byte means this spelling; another
 * spelling of the name is stored as a string (src/entry.ts). Part of the format, as above.
 */
export const DISPLAY_NAMES: readonly string[] = [
  'Content-Type',
  'ETag',
  'Last-Modified',
  'Cache-Control',
  'Date',
  'Vary',
  'Expires',
  'Content-Encoding',
  'Content-Language',
  'Content-Disposition',
  'Content-Location',
  'Content-Range',
  'Accept-Ranges',
  'Link',
  'Location',
  'X-Powered-By',
  'Server',
  'Pragma',
  'Access-Control-Allow-Origin',
  'Access-Control-Allow-Credentials',
  'Access-Control-Expose-Headers',
  'Strict-Transport-Security',
  'X-Content-Type-Options',
  'X-Frame-Options',
  'Content-Security-Policy',
  'Referrer-Policy',
  'Cross-Origin-Resource-Policy',
  'Timing-Allow-Origin',
  'CDN-Cache-Control',
  'Surrogate-Control',
  'X-Robots-Tag',
];

/**
 * Content-Type values stored as one byte (0x80 + index): the ones Express's res.json,
 * res.send and res.type write for common bodies. Append only, with a new ENTRY_VERSION.
 */
export const CONTENT_TYPES: readonly string[] = [
  'application/json; charset=utf-8',
  'text/html; charset=utf-8',
  'text/plain; charset=utf-8',
  'application/octet-stream',
  'application/javascript; charset=utf-8',
  'text/javascript; charset=utf-8',
  'text/css; charset=utf-8',
  'application/xml; charset=utf-8',
  'text/xml; charset=utf-8',
  'image/svg+xml',
  'image/png',
  'image/jpeg',
  'image/webp',
  'image/gif',
  'application/pdf',
  'font/woff2',
  'application/json',
  'text/html',
  'text/plain',
];

/** name -> its byte (index + 1); value -> its index. */
export const HEADER_NAME_CODES: ReadonlyMap<string, number> = new Map(HEADER_NAMES.map((n, i) => [n, i + 1]));
export const CONTENT_TYPE_CODES: ReadonlyMap<string, number> = new Map(CONTENT_TYPES.map((v, i) => [v, i]));

/**
 * Measures, then writes: encodeEntry walks an entry once with no buffer (counting bytes) and
 * once into a buffer of exactly that size, so the metadata lands in place and the body is
 * copied once, with no intermediate buffer.
 */
export class Writer {
  pos = 0;

  constructor(readonly buf: Buffer | undefined) {}

  byte(n: number): void {
    if (this.buf) this.buf[this.pos] = n;
    this.pos++;
  }

  uint16(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`${n} is not a 16-bit unsigned integer`);
    this.byte(n >>> 8);
    this.byte(n & 0xff);
  }

  /** LEB128 (7 bits a byte, low first): any safe integer in at most 8 bytes. */
  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a non-negative safe integer`);
    // Past 31 bits, float division (not %, which is a libm call); below, integer shifts.
    while (n > 0x7fffffff) {
      const rest = Math.floor(n / 0x80);
      this.byte(n - rest * 0x80 + 0x80);
      n = rest;
    }
    while (n >= 0x80) {
      this.byte((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    this.byte(n);
  }

  /**
   * Length in UTF-16 units and width in one varint, then the characters: one byte each when
   * they all fit Latin-1 (header values always do), else UTF-16LE, exact for any JS string
   * (lone surrogates included, which UTF-8 would replace).
   */
  string(s: string): void {
    const wide = !isLatin1(s);
    this.varint(s.length * 2 + (wide ? 1 : 0));
    const bytes = wide ? s.length * 2 : s.length;
    if (this.buf) this.buf.write(s, this.pos, bytes, wide ? 'utf16le' : 'latin1');
    this.pos += bytes;
  }

  bytes(b: Buffer): void {
    if (this.buf) b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
}

function isLatin1(s: string): boolean {
  // Most strings are ASCII: byteLength is native, and one byte a char means ASCII.
  if (Buffer.byteLength(s, 'utf8') === s.length) return true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

export class Reader {
  pos: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  /** Bytes not read yet. */
  get left(): number {
    return this.buf.length - this.pos;
  }

  byte(): number {
    if (this.pos >= this.buf.length) throw new EntryCorruptError('entry is truncated');
    return this.buf[this.pos++];
  }

  uint16(): number {
    return this.byte() * 0x100 + this.byte();
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    // Partial sums only grow, so every one at or below the safe range is exact.
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (n > Number.MAX_SAFE_INTEGER) break;
        return n;
      }
      scale *= 0x80;
    }
    throw new EntryCorruptError('entry holds a number beyond the safe integers');
  }

  /** A count of at most `max` items. */
  count(max: number, name: string): number {
    const n = this.varint();
    if (n > max) throw new EntryCorruptError(`entry ${name} are more than ${max}`);
    return n;
  }

  string(): string {
    const head = this.varint();
    const wide = head % 2 === 1;
    const bytes = wide ? head - 1 : head / 2;
    if (bytes > this.left) throw new EntryCorruptError('entry is truncated');
    const start = this.pos;
    this.pos += bytes;
    return this.buf.toString(wide ? 'utf16le' : 'latin1', start, this.pos);
  }

  /** The remaining bytes, without a copy (nobody mutates stored bytes). */
  rest(): Buffer {
    const rest = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return rest;
  }
}
