/**
 * TieredStore: a bounded memory tier in front of a shared store (Redis), kept coherent
 * across instances over Redis pub/sub.
 *
 * - A memory hit touches Redis not at all (and `peek` answers it synchronously).
 * - Every write and invalidation is published; other instances apply it to their memory
 *   tier (drop the overwritten key, the path, the prefix, the tags) within milliseconds.
 * - While the subscription is down the memory tier is emptied and bypassed, so no instance
 *   serves a copy it might not hear about; it fills again once the subscription is back.
 * - A copy never outlives the shared entry: it keeps the entry's own expiry.
 *
 * Copies read from Redis are re-indexed from the entry's own path and tags (src/entry.ts),
 * so path and tag invalidations reach them too. A read that overlaps any invalidation
 * message is not kept (the epoch check), so a copy can't resurrect what was just dropped.
 *
 * Exactness across instances: every instance publishes a heartbeat; one that has not heard
 * its own for `leaseMs` (a subscriber dropped silently, Redis gone) empties and bypasses its
 * tier by itself. Each instance acknowledges the invalidations it applies; an invalidation
 * resolves once every instance heard from lately has acknowledged it, or after the lease (by
 * then a silent instance has stopped serving its tier). So when invalidate() resolves, no
 * memory tier anywhere still serves what it matched.
 */

import { randomUUID } from 'node:crypto';
import createDebug from 'debug';
import type { Cluster, Redis } from 'ioredis';
import { decodeEntry } from '../entry';
import { MemoryStore, type MemoryStoreOptions } from './memory';
import { ACK_ID, acknowledge, acknowledgeBound, DEFAULT_HEARTBEAT_MS, leaseOf } from './redis-acks';
import { monotonicNow, type GuardTarget } from '../guard';
import type { CacheStore, CounterOp, Replication, StoreGuard, StoreIndex, StoreSafety, StoreSetEntry } from './store';

const debug = createDebug('express-response-cache:tiered');

export interface TieredStoreOptions {
  /** The shared store (a RedisStore). */
  remote: CacheStore;
  /** A client that publishes invalidations (the RedisStore's own, usually). */
  publisher: Redis | Cluster;
  /** A connection for SUBSCRIBE only (e.g. `client.duplicate()`). */
  subscriber: Redis | Cluster;
  /** Close `subscriber` (and `remote`) in close(): true when the cache made them. @default false */
  owns?: boolean;
  /** @default 'express-response-cache:invalidate' */
  channel?: string;
  /** The memory tier's bounds. @default { maxEntries: 10000, maxBytes: 64 MiB } */
  memory?: MemoryStoreOptions;
  /**
   * How often this instance publishes a heartbeat, in ms; the tier is bypassed when none of
   * its own was heard for 4 of them.
   * @default 500
   */
  heartbeatMs?: number;
  now?: () => number;
}

type Op = 'keys' | 'path' | 'prefix' | 'tags' | 'beat' | 'ack';
interface Message {
  from: string;
  op: Op;
  args: string[];
  id?: string;
  /** A plain RedisStore's message: acknowledge into its set (./redis-acks.ts), not on the channel. */
  ack?: 'set';
}

export class TieredStore implements CacheStore {
  readonly memory: MemoryStore;
  private readonly remote: CacheStore;
  private readonly publisher: Redis | Cluster;
  private readonly subscriber: Redis | Cluster;
  private readonly owns: boolean;
  private readonly channel: string;
  private readonly id = randomUUID();
  private readonly now: () => number;
  private subscribed = false;
  /** The subscription itself is up (the tier may still be off while heartbeats are not heard). */
  private listening = false;
  /** Bumped on every invalidation heard and every outage: a read spanning one is not kept. */
  private epoch = 0;
  /** Invalidations of this instance under way: no copy is kept meanwhile. */
  private active = 0;
  private closed = false;
  private readonly heartbeatMs: number;
  private readonly leaseMs: number;
  private readonly beat: NodeJS.Timeout;
  /** When our own heartbeat was last heard back (this instance's monotonic time). */
  private heardAt = -Infinity;
  /** Other instances heard lately, by id: who must acknowledge an invalidation. */
  private readonly peers = new Map<string, number>();
  private readonly waiting = new Map<string, { missing: Set<string>; done: () => void }>();
  private seq = 0;

  constructor(options: TieredStoreOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('TieredStore: options must be an object');
    if (!options.remote) throw new TypeError('TieredStore: remote must be a CacheStore');
    for (const name of ['publisher', 'subscriber'] as const) {
      if (!options[name] || typeof (options[name] as Redis).publish !== 'function')
        throw new TypeError(`TieredStore: ${name} must be an ioredis Redis or Cluster`);
    }
    this.remote = options.remote;
    this.publisher = options.publisher;
    this.subscriber = options.subscriber;
    this.owns = options.owns ?? false;
    this.channel = options.channel ?? 'express-response-cache:invalidate';
    this.now = options.now ?? Date.now;
    this.memory = new MemoryStore({ maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, ...options.memory });
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (typeof this.heartbeatMs !== 'number' || !(this.heartbeatMs >= 10) || !Number.isFinite(this.heartbeatMs)) {
      throw new TypeError(`TieredStore: heartbeatMs must be a number of ms >= 10, got ${String(options.heartbeatMs)}`);
    }
    this.leaseMs = leaseOf(this.heartbeatMs);
    this.beat = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.beat.unref();

    const sub = this.subscriber;
    sub.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.hear(text);
    });
    sub.on('ready', () => this.subscribe());
    for (const event of ['close', 'end', 'reconnecting'] as const) sub.on(event, () => this.down(event));
    sub.on('error', (err: Error) => debug('subscriber error: %s', err.message));
    if ((sub as Redis).status === 'ready') this.subscribe();
  }

  /**
   * The longest an invalidation waits for acknowledgements (broadcast()): the cache's bound
   * on an invalidation must include it, or a peer that hears it late (inside its lease)
   * still serves the copy when invalidate() resolves.
   */
  get acknowledgeWithinMs(): number {
    return acknowledgeBound(this.heartbeatMs);
  }

  /** True while invalidations are heard, i.e. while the memory tier is in use. */
  get coherent(): boolean {
    return this.subscribed;
  }

  peek(key: string): Buffer | undefined {
    return this.subscribed ? this.memory.peek(key) : undefined;
  }

  async get(key: string): Promise<Buffer | undefined> {
    const held = this.peek(key);
    if (held) return held;
    const epoch = this.epoch;
    const value = await this.remote.get(key);
    if (value && this.serving() && this.active === 0 && epoch === this.epoch) this.keep(key, value);
    return value;
  }

  async getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    const out: Array<Buffer | undefined> = keys.map((k) => this.peek(k));
    const missing = keys.filter((_, i) => out[i] === undefined);
    if (missing.length === 0) return out;
    const epoch = this.epoch;
    const found = this.remote.getMany ? await this.remote.getMany(missing) : await Promise.all(missing.map((k) => this.remote.get(k)));
    let j = 0;
    for (let i = 0; i < keys.length; i++) {
      if (out[i] !== undefined) continue;
      const value = found[j++];
      out[i] = value;
      if (value && this.serving() && this.active === 0 && epoch === this.epoch) this.keep(keys[i], value);
    }
    return out;
  }

  async set(key: string, value: Buffer, ttlMs: number, index: StoreIndex): Promise<void> {
    const epoch = this.epoch;
    await this.remote.set(key, value, ttlMs, index);
    this.kept(key, value, ttlMs, index, epoch);
  }

  async setGuarded(entry: StoreSetEntry, guard: StoreGuard): Promise<boolean> {
    if (!this.remote.setGuarded) {
      await this.set(entry.key, entry.value, entry.ttlMs, entry.index);
      return true;
    }
    const epoch = this.epoch;
    const live = await this.remote.setGuarded(entry, guard);
    if (live) this.kept(entry.key, entry.value, entry.ttlMs, entry.index, epoch);
    return live;
  }

  async mark(target: GuardTarget, windowMs: number): Promise<void> {
    if (this.remote.mark) await this.remote.mark(target, windowMs);
  }

  /** The shared store's keys (the tier holds a subset of them). */
  /**
   * Counters live in the shared store only, never in the tier: a copy here could not stay
   * exact under increments from other instances. There when the shared store has them.
   */
  get counter(): ((op: CounterOp) => Promise<number | undefined>) | undefined {
    const remote = this.remote;
    return remote.counter ? (op) => remote.counter!(op) : undefined;
  }

  keys(prefix: string, limit: number): Promise<string[]> {
    if (!this.remote.keys) return Promise.reject(new TypeError('cache.keys: the shared store behind the memory tier cannot list its keys'));
    return this.remote.keys(prefix, limit);
  }

  check(): Promise<string[]> {
    return this.remote.check ? this.remote.check() : Promise.resolve([]);
  }

  /**
   * The shared store's safety (a Redis eviction policy). The tier's own copies stay
   * servable: its indexes are in memory and every invalidation reaches them by message.
   */
  watchSafety(listener: (safety: StoreSafety) => void): () => void {
    return this.remote.watchSafety ? this.remote.watchSafety(listener) : () => undefined;
  }

  afterInvalidate(options?: { readonly exact?: boolean; readonly readWithinMs?: number }): Promise<void> {
    return this.remote.afterInvalidate ? this.remote.afterInvalidate(options) : Promise.resolve();
  }

  /** The shared store's replicas (src/replicated.ts): the tier itself is dropped by pub/sub and on any lost connection. */
  replicate(since: number, timeoutMs: number): Promise<Replication> {
    return this.remote.replicate ? this.remote.replicate(since, timeoutMs) : Promise.resolve('none');
  }

  get replicated(): boolean {
    return this.remote.replicated === true;
  }

  /** Our own write: keep it here unless an invalidation overlapped it, and let the others drop their copy. */
  private kept(key: string, value: Buffer, ttlMs: number, index: StoreIndex, epoch: number): void {
    if (this.serving() && this.active === 0 && epoch === this.epoch) void this.memory.set(key, value, ttlMs, index);
    this.publish('keys', [key]).catch((err) => debug('publish failed: %s', (err as Error).message));
  }

  delete(keys: readonly string[]): Promise<number> {
    return this.invalidate('keys', [...keys], (s) => s.delete(keys));
  }

  deleteByPath(path: string): Promise<number> {
    return this.invalidate('path', [path], (s) => s.deleteByPath(path));
  }

  deleteByPrefix(prefix: string): Promise<number> {
    return this.invalidate('prefix', [prefix], (s) => s.deleteByPrefix(prefix));
  }

  deleteByTag(tags: readonly string[]): Promise<number> {
    return this.invalidate('tags', [...tags], (s) => s.deleteByTag(tags));
  }

  lock(key: string, ttlMs: number): Promise<string | undefined> {
    return this.remote.lock ? this.remote.lock(key, ttlMs) : Promise.resolve(randomUUID());
  }

  async unlock(key: string, token: string): Promise<void> {
    if (this.remote.unlock) await this.remote.unlock(key, token);
  }

  async ping(): Promise<void> {
    if (this.remote.ping) await this.remote.ping();
    else await this.remote.get('__ping__');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscribed = false;
    clearInterval(this.beat);
    for (const w of this.waiting.values()) w.done();
    await this.memory.close();
    if (!this.owns) {
      // A silent connection (blackholed) never answers UNSUBSCRIBE: wait at most a second.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 1_000);
        timer.unref();
      });
      await Promise.race([this.subscriber.unsubscribe(this.channel).catch(() => undefined), bound]);
      clearTimeout(timer);
      return;
    }
    this.subscriber.disconnect();
    await this.remote.close();
  }

  /**
   * Here first (so this instance drops its copies even when the shared store fails), then
   * the shared store (its count is the answer), then every other instance, waiting for
   * their acknowledgements. No copy is kept while it runs.
   */
  private async invalidate(op: Op, args: string[], run: (s: CacheStore) => Promise<number>): Promise<number> {
    this.epoch++;
    this.active++;
    try {
      await run(this.memory);
      const n = await run(this.remote);
      await this.broadcast(op, args);
      return n;
    } finally {
      this.active--;
      this.epoch++;
    }
  }

  /** Publish an invalidation and wait (at most a lease and a beat) for every peer heard lately to apply it. */
  private async broadcast(op: Op, args: string[]): Promise<void> {
    const id = `${this.id}:${++this.seq}`;
    const now = monotonicNow();
    const missing = new Set([...this.peers].filter(([, at]) => now - at <= this.leaseMs).map(([peer]) => peer));
    let done!: () => void;
    const acked = new Promise<void>((resolve) => (done = resolve));
    if (missing.size > 0) this.waiting.set(id, { missing, done });
    try {
      await this.publish(op, args, id);
      if (missing.size === 0) return;
      // A peer that stays silent stops serving its tier when its heartbeat timer sees the lease
      // lapsed (at most a lease and a beat after it last heard itself); one more beat of margin
      // covers a timer that fires late.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([acked, new Promise<void>((r) => (timer = setTimeout(r, this.acknowledgeWithinMs)))]);
      clearTimeout(timer);
    } catch (err) {
      debug('publish failed: %s', (err as Error).message);
    } finally {
      this.waiting.delete(id);
    }
  }

  private publish(op: Op, args: string[], id?: string): Promise<unknown> {
    const message: Message = { from: this.id, op, args, ...(id ? { id } : {}) };
    return this.publisher.publish(this.channel, JSON.stringify(message));
  }

  /**
   * Copies are kept only while invalidations are heard: subscribed, and not yet found by the
   * heartbeat timer to have gone a lease without hearing itself (it then clears `subscribed`;
   * a hit checks no clock).
   */
  private serving(): boolean {
    return this.subscribed;
  }

  private heartbeat(): void {
    if (this.closed) return;
    // Instances not heard for ten leases are gone (restarted): they owe no acknowledgements.
    const now = monotonicNow();
    for (const [peer, at] of this.peers) if (now - at > this.leaseMs * 10) this.peers.delete(peer);
    if (this.subscribed && monotonicNow() - this.heardAt > this.leaseMs) this.down('heartbeat lost');
    this.publish('beat', []).catch((err) => debug('heartbeat publish failed: %s', (err as Error).message));
  }

  private hear(text: string): void {
    let m: Message;
    try {
      m = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (!m || typeof m.from !== 'string' || !Array.isArray(m.args) || !m.args.every((a) => typeof a === 'string')) return;
    if (m.op === 'beat') {
      if (m.from !== this.id) this.peers.set(m.from, monotonicNow());
      else {
        this.heardAt = monotonicNow();
        // Heard our own again after a silence: resubscribed state is trusted from empty.
        if (!this.subscribed && !this.closed && this.listening) this.up();
      }
      return;
    }
    if (m.op === 'ack') {
      const w = m.args[1] === this.id ? this.waiting.get(m.args[0]) : undefined;
      if (w) {
        w.missing.delete(m.from);
        if (w.missing.size === 0) w.done();
      }
      return;
    }
    // Peers are who sends heartbeats (tiered instances, which acknowledge); a plain
    // instance's announcements are applied and acknowledged into its set, and it owes none.
    if (m.from === this.id) return;
    this.epoch++;
    const done = (p: Promise<number>) => p.catch(() => 0);
    switch (m.op) {
      case 'keys':
        void done(this.memory.delete(m.args));
        break;
      case 'path':
        for (const p of m.args) void done(this.memory.deleteByPath(p));
        break;
      case 'prefix':
        for (const p of m.args) void done(this.memory.deleteByPrefix(p));
        break;
      case 'tags':
        void done(this.memory.deleteByTag(m.args));
        break;
    }
    // The memory store applies these synchronously: acknowledge at once.
    if (typeof m.id !== 'string') return;
    const failed = (err: Error): void => debug('ack failed: %s', err.message);
    if (m.ack === 'set') {
      if (ACK_ID.test(m.id)) acknowledge(this.publisher, this.channel, m.id, this.id).catch(failed);
    } else this.publish('ack', [m.id, m.from]).catch(failed);
  }

  /** Keep a copy read from the shared store, indexed as the entry says, until it expires there. */
  private keep(key: string, value: Buffer): void {
    try {
      const entry = decodeEntry(value);
      const ttl = entry.expiresAt - this.now();
      if (ttl > 0) void this.memory.set(key, value, ttl, { path: entry.path, tags: entry.tags });
    } catch {
      // not an entry we can index: leave it in the shared store only
    }
  }

  private subscribe(): void {
    if (this.closed) return;
    this.subscriber.subscribe(this.channel).then(
      () => {
        if (this.closed) return;
        this.listening = true;
        this.heardAt = monotonicNow();
        this.up();
        this.heartbeat();
      },
      (err: Error) => debug('subscribe failed: %s', err.message),
    );
  }

  /** Serve the tier again, from empty: anything published while we were not listening is lost. */
  private up(): void {
    this.epoch++;
    this.memory.clear();
    this.subscribed = true;
    debug('subscribed to %s', this.channel);
  }

  private down(event: string): void {
    if (event !== 'heartbeat lost') this.listening = false;
    if (!this.subscribed) return;
    this.subscribed = false;
    this.epoch++;
    this.memory.clear();
    debug('subscription %s: memory tier emptied and bypassed', event);
  }
}
