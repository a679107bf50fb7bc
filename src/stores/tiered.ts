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
 */

import { randomUUID } from 'node:crypto';
import createDebug from 'debug';
import type { Cluster, Redis } from 'ioredis';
import { decodeEntry } from '../entry';
import { MemoryStore, type MemoryStoreOptions } from './memory';
import type { CacheStore, StoreIndex } from './store';

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
  now?: () => number;
}

type Op = 'keys' | 'path' | 'prefix' | 'tags';
interface Message { from: string; op: Op; args: string[] }

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
  /** Bumped on every invalidation heard and every outage: a read spanning one is not kept. */
  private epoch = 0;
  private closed = false;

  constructor(options: TieredStoreOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('TieredStore: options must be an object');
    if (!options.remote) throw new TypeError('TieredStore: remote must be a CacheStore');
    for (const name of ['publisher', 'subscriber'] as const) {
      if (!options[name] || typeof (options[name] as Redis).publish !== 'function') throw new TypeError(`TieredStore: ${name} must be an ioredis Redis or Cluster`);
    }
    this.remote = options.remote;
    this.publisher = options.publisher;
    this.subscriber = options.subscriber;
    this.owns = options.owns ?? false;
    this.channel = options.channel ?? 'express-response-cache:invalidate';
    this.now = options.now ?? Date.now;
    this.memory = new MemoryStore({ maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, ...options.memory });

    const sub = this.subscriber;
    sub.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.hear(text);
    });
    sub.on('ready', () => this.subscribe());
    for (const event of ['close', 'end', 'reconnecting'] as const) sub.on(event, () => this.down(event));
    sub.on('error', (err: Error) => debug('subscriber error: %s', err.message));
    if ((sub as Redis).status === 'ready') this.subscribe();
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
    if (value && this.subscribed && epoch === this.epoch) this.keep(key, value);
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
      if (value && this.subscribed && epoch === this.epoch) this.keep(keys[i], value);
    }
    return out;
  }

  async set(key: string, value: Buffer, ttlMs: number, index: StoreIndex): Promise<void> {
    await this.remote.set(key, value, ttlMs, index);
    if (this.subscribed) await this.memory.set(key, value, ttlMs, index);
    // Others drop their copy of an overwritten key; nobody waits for that.
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
    await this.memory.close();
    if (!this.owns) {
      await this.subscriber.unsubscribe(this.channel).catch(() => undefined);
      return;
    }
    this.subscriber.disconnect();
    await this.remote.close();
  }

  /** The shared store first (its count is the answer), then here, then everyone else. */
  private async invalidate(op: Op, args: string[], run: (s: CacheStore) => Promise<number>): Promise<number> {
    this.epoch++;
    const n = await run(this.remote);
    await run(this.memory);
    await this.publish(op, args);
    return n;
  }

  private publish(op: Op, args: string[]): Promise<unknown> {
    const message: Message = { from: this.id, op, args };
    return this.publisher.publish(this.channel, JSON.stringify(message));
  }

  private hear(text: string): void {
    let m: Message;
    try {
      m = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (!m || m.from === this.id || !Array.isArray(m.args) || !m.args.every((a) => typeof a === 'string')) return;
    this.epoch++;
    const done = (p: Promise<number>) => p.catch(() => 0);
    switch (m.op) {
      case 'keys': void done(this.memory.delete(m.args)); break;
      case 'path': for (const p of m.args) void done(this.memory.deleteByPath(p)); break;
      case 'prefix': for (const p of m.args) void done(this.memory.deleteByPrefix(p)); break;
      case 'tags': void done(this.memory.deleteByTag(m.args)); break;
    }
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
        // Anything published while we were not listening is lost: start from empty.
        this.epoch++;
        this.memory.clear();
        this.subscribed = true;
        debug('subscribed to %s', this.channel);
      },
      (err: Error) => debug('subscribe failed: %s', err.message),
    );
  }

  private down(event: string): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    this.epoch++;
    this.memory.clear();
    debug('subscription %s: memory tier emptied and bypassed', event);
  }
}
