/**
 * The oracle: what every answer must satisfy, given what the clients had seen acknowledged.
 *
 * A PUT's 200 tells its client the row's new version, a POST's 200 the new row count. The
 * contract (shared/DESIGN.md, "Invalidation is exact, also under write traffic") says that
 * once such an answer is sent, no instance serves anything made from data read before the
 * write's invalidation began. So a GET *sent after* an ack must show at least the acked
 * version: `stale-own` when the client itself got the ack, `stale-global` when another
 * client had got it before this GET was sent (the same rule, seen across users).
 */

export type ViolationKind =
  'stale-own' | 'stale-global' | 'other-user' | 'other-host' | 'other-scheme' | 'other-target' | 'wrong-row' | 'failed' | 'stalled' | 'bad-body';

/**
 * An answer slower than this is `stalled`: handlers take ≤ 5 ms, a store call is cut at
 * storeTimeout (100 ms), an invalidation at 1 s, the worst injected latency is 30 ms; only
 * the cache waiting on something that will not come (a lost lock, a flight nobody ends)
 * takes seconds. A client gives up at 10 s (`failed`, TIMEOUT).
 */
export const STALLED_MS = 3000;

export interface Sent {
  readonly user: string;
  readonly instance: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** ms since the run started. */
  readonly at: number;
  /** Faults active when the request was sent. */
  readonly faults: string;
}

export interface Got {
  readonly status: number;
  readonly body: string;
  readonly xCache: string;
  readonly error?: string;
  readonly ms: number;
}

export interface Violation {
  readonly kind: ViolationKind;
  readonly sent: Sent;
  readonly got: Got;
  readonly detail: string;
}

/** A write's 200: the row's new version, or the new row count (POST). */
export interface Ack {
  readonly id?: number;
  readonly version?: number;
  readonly total?: number;
  /** The instance that answered it. */
  readonly instance: string;
  readonly at: number;
}

/**
 * What a client (or everyone) has seen acknowledged: row versions and the row count.
 *
 * An ack whose writer could not reach Redis is *held*: its invalidation is kept on that
 * instance and retried, and until it lands only that instance knows of it (README, Known
 * issues: the other instances serve what Redis has). A held ack binds GETs on its own
 * instance at once and GETs on the others once the writer holds no kept invalidation.
 */
export class Acks {
  readonly rows = new Map<number, { version: number; instance: string; at: number }>();
  total = 0;
  private held: Ack[] = [];
  /** How many acks were ever held (printed with the run). */
  heldCount = 0;

  /** Take an ack; `held` when its writer kept (could not yet apply) an invalidation. */
  record(a: Ack, held: boolean): void {
    if (!held) return this.apply(a);
    this.held.push(a);
    this.heldCount++;
  }

  version(id: number): number {
    return this.rows.get(id)?.version ?? 0;
  }

  /**
   * The acks that bind a GET sent now to `instance`: every released one, and those held by
   * `instance` itself. Held acks of writers that no longer keep any invalidation
   * (`keeps(writer)` false) are released first.
   */
  snapshot(instance?: string, keeps?: (writer: string) => boolean): Acks {
    if (keeps && this.held.length > 0) {
      const still: Ack[] = [];
      for (const a of this.held) {
        if (keeps(a.instance)) still.push(a);
        else this.apply(a);
      }
      this.held = still;
    }
    const copy = new Acks();
    for (const [id, v] of this.rows) copy.rows.set(id, v);
    copy.total = this.total;
    for (const a of this.held) if (a.instance === instance) copy.apply(a);
    return copy;
  }

  private apply(a: Ack): void {
    if (a.id !== undefined && a.version !== undefined && (this.rows.get(a.id)?.version ?? 0) < a.version) {
      this.rows.set(a.id, { version: a.version, instance: a.instance, at: a.at });
    }
    if (a.total !== undefined) this.total = Math.max(this.total, a.total);
  }
}

const KEEP_PER_KIND = 5;

export class Oracle {
  readonly global = new Acks();
  readonly counts = { requests: 0, byStatus: new Map<string, number>(), byXCache: new Map<string, number>() };
  /** The slowest answer, and how many took over a second (the store must never hold a request long). */
  readonly latency = { maxMs: 0, max: '', overOneSecond: 0, slowest: [] as string[] };
  /** GETs' X-Cache by the fault phase they were sent in: shows how caching recovers. */
  readonly byPhase = new Map<string, Map<string, number>>();
  readonly violations = new Map<ViolationKind, number>();
  /** Violations of each kind by where they came from (X-Cache, same/other instance, faults). */
  readonly breakdown = new Map<string, number>();
  /** The first few violations of each kind, in full, as reproductions. */
  readonly examples: Violation[] = [];

  /** Record an answer and check it; `own` and `everyone` are the acks as they were at send time. */
  check(sent: Sent, got: Got, own: Acks, everyone: Acks): void {
    this.counts.requests++;
    if (got.ms > 1000) {
      this.latency.overOneSecond++;
      if (this.latency.slowest.length < 10) {
        this.latency.slowest.push(
          `${got.ms.toFixed(0)} ms: ${sent.user} ${sent.method} ${sent.path} on ${sent.instance} at t=${Math.round(sent.at)} ms (${sent.faults}), X-Cache ${got.xCache || '-'}`,
        );
      }
    }
    if (got.ms > this.latency.maxMs) {
      this.latency.maxMs = got.ms;
      this.latency.max = `${sent.method} ${sent.path} on ${sent.instance} at t=${Math.round(sent.at)} ms (${sent.faults}), X-Cache ${got.xCache || '-'}`;
    }
    bump(this.counts.byStatus, got.error ? `error:${got.error}` : `${sent.method} ${got.status}`);
    if (sent.method === 'GET') {
      const xCache = got.xCache || '(none)';
      bump(this.counts.byXCache, xCache);
      if (!this.byPhase.has(sent.faults)) this.byPhase.set(sent.faults, new Map());
      bump(this.byPhase.get(sent.faults)!, xCache);
    }
    if (got.error || got.status >= 500 || got.status !== 200) {
      this.violate('failed', sent, got, got.error ?? `status ${got.status}`);
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(got.body) as Record<string, unknown>;
    } catch {
      this.violate('bad-body', sent, got, 'not JSON');
      return;
    }
    if (got.ms > STALLED_MS) this.violate('stalled', sent, got, `answered after ${got.ms.toFixed(0)} ms`);
    if (sent.method === 'GET') this.checkGet(sent, got, body, own, everyone);
  }

  private checkGet(sent: Sent, got: Got, body: Record<string, unknown>, own: Acks, everyone: Acks): void {
    const path = sent.path;
    const row = /^\/rows\/(\d+)$/.exec(path);
    if (row) {
      const id = Number(row[1]);
      if (body.id !== id) return this.violate('wrong-row', sent, got, `asked row ${id}`);
      this.checkVersion(sent, got, id, Number(body.version), own, everyone);
      return;
    }
    if (path.startsWith('/rows?')) {
      const rows = body.rows as Array<{ id: number; version: number }>;
      const total = Number(body.total);
      if (total < own.total) return this.violate('stale-own', sent, got, `list total ${total} < acked ${own.total}`);
      if (total < everyone.total) return this.violate('stale-global', sent, got, `list total ${total} < acked ${everyone.total}`);
      for (const r of rows) if (!this.checkVersion(sent, got, r.id, r.version, own, everyone)) return;
      return;
    }
    if (path.startsWith('/me') || path.startsWith('/whoami')) {
      if (body.user !== sent.user) this.violate('other-user', sent, got, `body for ${String(body.user)}`);
      return;
    }
    if (path === '/scheme') {
      // req.protocol with trust proxy: X-Forwarded-Proto's first value, trimmed; else the socket's (http here).
      const forwarded = sent.headers['x-forwarded-proto'];
      const scheme = forwarded === undefined ? 'http' : forwarded.split(',')[0].trim();
      if (body.protocol !== scheme) this.violate('other-scheme', sent, got, `body for scheme ${String(body.protocol)}, sent ${scheme}`);
      return;
    }
    if (body.kind === 'reflect' || path.includes('/reflect')) {
      // The app sees the target as sent (req.originalUrl): another spelling's body is another request's.
      if (body.url !== path) this.violate('other-target', sent, got, `body for target ${String(body.url)}`);
      return;
    }
    if (path === '/host') {
      const host = sent.headers.host;
      if (body.host !== host) this.violate('other-host', sent, got, `body for host ${String(body.host)}, sent ${host}`);
    }
  }

  private checkVersion(sent: Sent, got: Got, id: number, version: number, own: Acks, everyone: Acks): boolean {
    const mine = own.rows.get(id);
    if (mine && version < mine.version) {
      this.violate(
        'stale-own',
        sent,
        got,
        `row ${id} v${version} < acked v${mine.version} (PUT on ${mine.instance}, ${Math.round(sent.at - mine.at)} ms before)`,
        mine.instance,
      );
      return false;
    }
    const theirs = everyone.rows.get(id);
    if (theirs && version < theirs.version) {
      this.violate(
        'stale-global',
        sent,
        got,
        `row ${id} v${version} < acked v${theirs.version} (PUT on ${theirs.instance}, ${Math.round(sent.at - theirs.at)} ms before)`,
        theirs.instance,
      );
      return false;
    }
    return true;
  }

  private violate(kind: ViolationKind, sent: Sent, got: Got, detail: string, writer?: string): void {
    bump(this.violations, kind);
    const where = writer === undefined ? '' : writer === sent.instance ? ' same-instance' : ' cross-instance';
    bump(this.breakdown, `${kind}: X-Cache ${got.xCache || '-'}${where}, faults ${sent.faults}`);
    if (this.examples.filter((v) => v.kind === kind).length < KEEP_PER_KIND) this.examples.push({ kind, sent, got, detail });
  }

  get totalViolations(): number {
    let n = 0;
    for (const v of this.violations.values()) n += v;
    return n;
  }
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
