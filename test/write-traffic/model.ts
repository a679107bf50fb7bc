/**
 * The model the write-traffic tests check bodies against: a table of rows, each with a
 * version number, and an app whose GET handler reads its row FIRST, then sleeps, then
 * answers the version it read (the shape of a real handler that queries, then renders),
 * and whose PUT handler writes the row before answering. Not a test file.
 */

import type { Express } from 'express';
import type { ExpressResponseCache } from '../../middleware';
import type { ExpressFactory } from '../helpers/express';
import { request, sleep, until, type Reply } from '../redis/instances';

/** The "database": rows by id, each at a version (1 until written). */
export class Rows {
  private readonly rows = new Map<string, number>();

  version(id: string): number {
    return this.rows.get(id) ?? 1;
  }

  /** Write the row: its version goes up by one; answers the new version. */
  write(id: string): number {
    const v = this.version(id) + 1;
    this.rows.set(id, v);
    return v;
  }
}

/** Handler calls, in all and per instance name. */
export class Calls {
  total = 0;
  readonly by = new Map<string, number>();
  events = 0;

  count(name: string): void {
    this.total++;
    this.by.set(name, (this.by.get(name) ?? 0) + 1);
  }

  of(name: string): number {
    return this.by.get(name) ?? 0;
  }
}

export interface ItemsApp {
  readonly name: string;
  readonly cache: ExpressResponseCache;
  readonly rows: Rows;
  readonly calls: Calls;
  /** How the PUT route names what it invalidates. @default 'tags' */
  readonly target?: 'paths' | 'tags' | 'prefixes';
  /** The GET handler adds `Vary: Accept-Language` and answers the language it was asked in. */
  readonly vary?: boolean;
  /** Sleep after the read, per request (ms). @default 3 */
  readonly delay?: (id: string, name: string) => number;
  /** Called right after the row is read (before the sleep), with the version read. */
  readonly onRead?: (id: string, version: number, name: string) => void;
  /** An ETag the GET handler sets itself (so a client can send a matching If-None-Match). */
  readonly etag?: (id: string, version: number) => string;
  /** After the read, the answer waits for this instead of the sleep, when it gives a promise. */
  readonly hold?: (id: string, name: string) => Promise<void> | undefined;
}

/**
 * GET /items/:id  → 200 `{ id, v, lang?, by }`, tagged `item:<id>`
 * PUT /items/:id  → writes the row, 200 `{ id, v }`; `cache.invalidates({ paths | tags })`
 * POST /events    → 204, touches no row (invalidateUnsafe drops only `/events`)
 */
export function itemsApp(express: ExpressFactory, spec: ItemsApp): Express {
  const { cache, rows, calls, name } = spec;
  const delay = spec.delay ?? (() => 3);
  const app = express();
  app.use(cache.middleware());
  app.get('/items/:id', (req, res) => {
    const id = String(req.params.id);
    calls.count(name);
    // Read first: whatever happens during the sleep, this answer is of version `v`.
    const v = rows.version(id);
    spec.onRead?.(id, v, name);
    res.locals.cache!.tag(`item:${id}`);
    const answer = (): void => {
      if (res.destroyed || res.writableEnded) return;
      const body: Record<string, unknown> = { id, v };
      if (spec.vary) {
        res.vary('Accept-Language');
        body.lang = String(req.headers['accept-language'] ?? 'en');
      }
      if (spec.etag) res.setHeader('ETag', spec.etag(id, v));
      body.by = name;
      res.json(body);
    };
    const held = spec.hold?.(id, name);
    if (held) void held.then(answer);
    else setTimeout(answer, delay(id, name));
  });
  app.put(
    '/items/:id',
    cache.invalidates((req) => {
      const id = String(req.params.id);
      const target = spec.target ?? 'tags';
      if (target === 'tags') return { tags: [`item:${id}`] };
      return target === 'paths' ? { paths: [`/items/${id}`] } : { prefixes: [`/items/${id}`] };
    }),
    (req, res) => {
      const id = String(req.params.id);
      const v = rows.write(id);
      res.json({ id, v });
    },
  );
  app.post('/events', (_req, res) => {
    calls.events++;
    res.sendStatus(204);
  });
  return app;
}

export interface Item {
  readonly reply: Reply;
  readonly v: number;
  readonly by: string;
  readonly lang: string | undefined;
}

/** GET /items/:id; fails the test when the answer is not a 200 JSON item of that id. */
export async function getItem(base: string, id: string, headers?: Record<string, string>): Promise<Item> {
  const reply = await request(base, `/items/${id}`, { headers });
  if (reply.status !== 200) throw new Error(`GET /items/${id}: status ${reply.status} ${reply.text}`);
  const body = JSON.parse(reply.text) as { id: string; v: number; by: string; lang?: string };
  if (body.id !== id) throw new Error(`GET /items/${id} answered item ${body.id}`);
  return { reply, v: body.v, by: body.by, lang: body.lang };
}

/** PUT /items/:id; resolves the version written, once the answer (after the invalidation) is in. */
export async function putItem(base: string, id: string): Promise<number> {
  const reply = await request(base, `/items/${id}`, { method: 'PUT' });
  if (reply.status !== 200) throw new Error(`PUT /items/${id}: status ${reply.status} ${reply.text}`);
  return (JSON.parse(reply.text) as { v: number }).v;
}

/** A latch: `wait()` resolves once `open()` was called. */
export function latch(): { open: () => void; wait: Promise<void>; readonly opened: boolean } {
  let open!: () => void;
  let opened = false;
  const wait = new Promise<void>(
    (r) =>
      (open = () => {
        opened = true;
        r();
      }),
  );
  return {
    open,
    wait,
    get opened() {
      return opened;
    },
  };
}

/** Resolve `p`, or reject after `limitMs` naming `label` (a bound on a test, not a figure checked). */
export async function within<T>(p: Promise<T>, limitMs: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${label}: not done within ${limitMs} ms`)), limitMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Wrong answers of a GET/PUT/GET sequence, as readable lines: the GET after the PUT's
 * answer must show the version the PUT wrote (read-your-writes), and so must one a little
 * later (an entry a racing commit left from the old version would show there).
 */
export async function putThenGet(base: string, id: string, headers?: Record<string, string>, settleMs = 30): Promise<string[]> {
  const wrong: string[] = [];
  const written = await putItem(base, id);
  const right = await getItem(base, id, headers);
  const lang = headers?.['Accept-Language'];
  if (lang !== undefined && right.lang !== lang) wrong.push(`${id}: asked in ${lang} after the PUT, got ${String(right.lang)}`);
  if (right.v !== written) wrong.push(`${id}: GET right after PUT v${written} got v${right.v} (${right.reply.xCache})`);
  await sleep(settleMs);
  const later = await getItem(base, id, headers);
  if (later.v !== written) wrong.push(`${id}: GET ${settleMs} ms after PUT v${written} got v${later.v} (${later.reply.xCache})`);
  return wrong;
}

/** Who is waiting for a row to be read: the tests time a PUT from the GET handler's read. */
export class Reads {
  private readonly waiting = new Map<string, Array<() => void>>();

  /** Resolves at the next read of row `id`. */
  next(id: string): Promise<void> {
    return new Promise((resolve) => this.waiting.set(id, [...(this.waiting.get(id) ?? []), resolve]));
  }

  /** For ItemsApp.onRead. */
  readonly saw = (id: string): void => {
    const list = this.waiting.get(id);
    this.waiting.delete(id);
    for (const resolve of list ?? []) resolve();
  };
}

/**
 * `count` GET/PUT/GET sequences on `i`, each on its own id (the app's onRead must be
 * `reads.saw`). One in four lets the first GET's entry land first (the PUT must remove it);
 * the others send the PUT 0, 1, 2, … ms after the first GET's handler read its row, so the
 * PUT's invalidation meets that GET's making, its answer and each round trip of its commit.
 */
export async function sequences(
  i: { readonly url: string; readonly cache: ExpressResponseCache },
  reads: Reads,
  headers: (n: number) => Record<string, string> | undefined = () => undefined,
  count = 20,
): Promise<string[]> {
  const wrong: string[] = [];
  for (let n = 0; n < count; n++) {
    const id = `s${n}`;
    const stores = i.cache.stats().stores;
    const read = reads.next(id);
    const first = getItem(i.url, id, headers(n));
    if (n % 4 === 0) {
      await first;
      await until(() => i.cache.stats().stores > stores, 3000, `${id} stored`);
    } else {
      await read;
      await sleep(n - Math.floor(n / 4) - 1);
    }
    wrong.push(...(await putThenGet(i.url, id, headers(n))));
    // It read v1 (before the PUT began): v1 is its right answer, whenever it came.
    const got = await first;
    if (got.v !== 1) wrong.push(`${id}: first GET got v${got.v}`);
    const lang = headers(n)?.['Accept-Language'];
    if (lang !== undefined && got.lang !== lang) wrong.push(`${id}: asked in ${lang}, got ${String(got.lang)}`);
  }
  return wrong;
}

/**
 * Two instances racing, `rounds` times: a slow GET on B reads v1 (`armSlowRead` makes B's
 * next read slow and resolves once it has read), a PUT on A lands meanwhile; then both
 * must serve the written version at once and for a few hundred ms after (the entry B would
 * have stored from v1 never shows). Answers what went wrong, for one `expect(...).toEqual([])`.
 */
export async function raceAfterPut(a: { url: string }, b: { url: string }, rounds: number, armSlowRead: () => Promise<void>): Promise<string[]> {
  const wrong: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const id = `race${round}`;
    const read = armSlowRead();
    const slowGet = getItem(b.url, id);
    await read;
    const written = await putItem(a.url, id);
    const [onA, onB] = await Promise.all([getItem(a.url, id), getItem(b.url, id)]);
    if (onA.v !== written) wrong.push(`${id}: A right after the PUT got v${onA.v}`);
    if (onB.v !== written) wrong.push(`${id}: B right after the PUT got v${onB.v}`);
    // It read before the PUT and was in flight: v1 is its right answer.
    const early = await slowGet;
    if (early.v !== 1) wrong.push(`${id}: the GET in flight during the PUT got v${early.v}, not the v1 it read`);
    for (let n = 0; n < 20; n++) {
      const got = await getItem(n % 2 ? a.url : b.url, id);
      if (got.v !== written) wrong.push(`${id}: ${n % 2 ? 'A' : 'B'} ${n * 15} ms later got v${got.v} (${got.reply.xCache})`);
      await sleep(15);
    }
  }
  return wrong;
}
