/**
 * RedisStore: a CacheStore on ioredis, for a single node, Sentinel or Cluster.
 *
 * Layout (see redis-keys.ts): the entry at `e:{key}` (SET … PX: a state byte, the writer's
 * 8-byte token, the entry bytes), and one sorted set per path (`p:{path}`) and per tag
 * (`t:{tag}`) whose members are the writer token followed by the entry key, scored by
 * expiry. An index add prunes expired members and stretches the index's TTL to its longest
 * member (PEXPIRE NX, else GT), so indexes stay bounded and expire with their entries.
 *
 * Invalidation reads an index, removes the members it read, then deletes each entry with a
 * script that first checks the entry still carries the member's token, i.e. is the write
 * that filed it. So an entry overwritten under new tags is not hit through an old tag, an
 * entry that expired is not counted, and an entry reached through two tags is counted once.
 * (This took a per-entry `m:{key}` set of its path and tags before: 450 B per entry in
 * bench/REDIS-MEMORY.md.) Writes do the entry before its indexes and invalidation drops
 * index members before entries, so a write that races an invalidation is either deleted or
 * stays indexed, never stranded unindexed.
 *
 * Connections: given a URL, the store opens a connection with `enableOfflineQueue: false`
 * and `maxRetriesPerRequest: 1`, so a dead Redis rejects at once (the cache turns that into
 * a miss), and closes it in `close()`. Given a `Redis` or `Cluster`, it uses it as is and
 * never closes it: how fast a dead server answers is then that client's business (the
 * cache's `storeTimeout` still bounds every call). For Sentinel, pass an ioredis `Redis`
 * configured with `sentinels` and `name`.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import createDebug from 'debug';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { counterTags, redisCounter } from './redis-counters';
import { EvictionWatch, mastersOf } from './redis-eviction';
import { ACK_BOUND_MS, acknowledged, clusterSubscribers } from './redis-acks';
import { RedisReplication } from './redis-replication';
import { monotonicNow, type GuardTarget } from '../guard';
import type { CacheStore, CounterOp, Replication, StoreGuard, StoreIndex, StoreSafety, StoreSetEntry } from './store';
import {
  escapeChars,
  escapeGlob,
  indexMember,
  isCounterToken,
  isHashTagSafe,
  parseIndexMember,
  parseRedisKey,
  pathIndexPattern,
  redisKey,
  TOKEN_LENGTH,
  type KeyKind,
} from './redis-keys';
import {
  DELETE_COUNTER,
  DELETE_ENTRY_HEAD,
  DISCARD_PENDING,
  INDEX_ADD,
  INDEX_ADD_ALL,
  MARK_LIVE,
  MARK_PREFIXES,
  MARK_RECORD,
  PREFIX_AGES,
  RECORD_AGE,
  RECORD_AGES,
  runScript,
  runScriptBuffer,
  UNLOCK,
} from './redis-scripts';
import { Tidier } from './redis-tidy';
import { decodeIndex } from '../entry';

const log = createDebug('express-response-cache:redis');

export interface RedisStoreOptions {
  /** An ioredis `Redis` (single node or Sentinel) or `Cluster`. Never closed by the store. */
  client?: Redis | Cluster;
  /** `redis://` or `rediss://` URL: the store opens (and closes) its own connection. */
  url?: string;
  /** ioredis options for the connection opened from `url`; they override the store's defaults. */
  redisOptions?: RedisOptions;
  /**
   * Prepended to every key the store writes, after the client's own `options.keyPrefix`.
   * @default ''
   */
  keyPrefix?: string;
  /** Hears 'error' events of the connection the store opened (default: debug log). */
  onError?: (err: Error) => void;
  /**
   * The pub/sub channel memory tiers (`tiered: true` instances) listen on: this store
   * publishes its invalidations there, so their copies go too. `false` publishes nothing
   * (a TieredStore's own remote: the tier publishes itself).
   * @default 'express-response-cache:invalidate'
   */
  channel?: string | false;
}

/** How many index members are removed and deleted per round. */
const BATCH = 1000;
/** SCAN COUNT hint for prefix search. */
const SCAN_COUNT = 1000;
/**
 * Every `e:` value starts with a state byte and an 8-byte writer token: a guarded write
 * is stored PENDING (readers see a miss) and flipped to LIVE in place once checked.
 */
const PENDING = 0xe0;
const LIVE = 0xe1;
const HEAD = 1 + TOKEN_LENGTH;
/**
 * Bytes of a deleted entry read back to find its other indexes: its path and tags come
 * first (src/entry.ts). An entry whose path and tags take more leaves those members to the
 * index's own expiry pruning, as before.
 */
const INDEX_HEAD_BYTES = 512;
/**
 * Record ages are microseconds on the server's clock; durations measured on two machines
 * drift apart by the clocks' rate difference (well under 0.1 %). A record this much younger
 * than the making still refuses it.
 */
const driftMs = (elapsed: number): number => 0.1 + elapsed / 1000;

export class RedisStore implements CacheStore {
  private readonly redis: Redis | Cluster;
  private readonly owned: boolean;
  private readonly isCluster: boolean;
  private readonly base: string;
  /** The client's keyPrefix: ioredis adds it to command keys, but not to SCAN MATCH. */
  private readonly clientPrefix: string;
  private readonly firstContact: Promise<void>;
  /** firstContact has settled: a read goes straight to the client (no await, no extra tick). */
  private contacted = false;
  private readonly channel: string | false;
  private readonly id = randomUUID();
  /** Announcements sent: the sequence in their message ids. */
  private announced = 0;
  /**
   * When a connection to Redis was last lost (this process's monotonic ms). A Redis that
   * restarts empty, or a failover to a replica the records had not reached, loses the
   * invalidation records a guarded write reads; a making that spans a lost connection is
   * therefore never made live (setGuarded).
   */
  private lostAt = -Infinity;
  private readonly unwatch: () => void;
  /** Where a connection the store opened looks for Redis (its URL, password hidden). */
  private readonly where: string = '';
  /** That connection's last error while it is not ready: what a refused command is told. */
  private outage: Error | undefined;
  /**
   * A command refused while the store's own connection is down says where and why, not
   * ioredis's "Stream isn't writeable and enableOfflineQueue options is false" (issue 23).
   * A reject handler: nothing more runs on a read that succeeds.
   */
  private readonly unreachable = (err: unknown): never => {
    const outage = this.outage;
    if (outage === undefined || this.redis.status === 'ready') throw err;
    throw new Error(`cannot reach Redis at ${this.where}: ${outage.message}`, { cause: err });
  };
  /** Replicas and WAIT (./redis-replication.ts); not on a Cluster. */
  private readonly replication: RedisReplication | undefined;

  /** A read's reject handler: a key of another type is a miss (the write heals it); else as unreachable. */
  private readonly readFailed = (err: unknown): undefined => missOnWrongType(err, this.unreachable);
  /** Removes a deleted entry's members from its other indexes, in the background (./redis-tidy.ts). */
  private readonly tidier = new Tidier((err) => log('index tidying failed: %s', err.message));
  /** The eviction policy and evictions of every master (./redis-eviction.ts). */
  private readonly eviction = new EvictionWatch({
    masters: () => mastersOf(this.redis, this.isCluster),
    purge: () => this.purge(),
    debug: (m) => log('%s', m),
  });

  constructor(options: RedisStoreOptions) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('RedisStore: options must be an object with `client` or `url`');
    }
    const { client, url, redisOptions, keyPrefix = '', onError, channel = 'express-response-cache:invalidate' } = options;
    if (channel !== false && (typeof channel !== 'string' || channel === ''))
      throw new TypeError(`RedisStore: channel must be a non-empty string or false, got ${String(channel)}`);
    this.channel = channel;
    if ((client === undefined) === (url === undefined)) {
      throw new TypeError('RedisStore: pass exactly one of `client` (an ioredis Redis or Cluster) or `url`');
    }
    if (client !== undefined && (client === null || typeof (client as Redis).getBuffer !== 'function')) {
      throw new TypeError('RedisStore: client must be an ioredis Redis or Cluster instance');
    }
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
      throw new TypeError(`RedisStore: url must be a redis:// or rediss:// URL, got ${String(url)}`);
    }
    if (typeof keyPrefix !== 'string') throw new TypeError(`RedisStore: keyPrefix must be a string, got ${typeof keyPrefix}`);
    if (onError !== undefined && typeof onError !== 'function') throw new TypeError('RedisStore: onError must be a function');
    // Checked before any connection is opened, so a bad prefix leaks nothing.
    const clientPrefix = String((client ? client.options.keyPrefix : redisOptions?.keyPrefix) ?? '');
    if (!isHashTagSafe(clientPrefix + keyPrefix)) {
      throw new TypeError(
        `RedisStore: key prefix "${clientPrefix + keyPrefix}" has a "{" not closed by a "}" with text in between; ` +
          'it would split an entry from its index record across Cluster slots',
      );
    }
    this.clientPrefix = clientPrefix;
    this.base = keyPrefix;
    if (client) {
      this.redis = client;
      this.owned = false;
      this.firstContact = Promise.resolve();
    } else {
      const IORedis = loadIoredis();
      const own = new IORedis(url!, { enableOfflineQueue: false, maxRetriesPerRequest: 1, ...redisOptions });
      // Never leave an 'error' event unhandled on a connection we opened. Without an onError,
      // say once per outage where Redis was looked for and why it failed (issue 23: ioredis's
      // own words at the first request named neither the URL nor the refused connection).
      this.where = redacted(url!);
      let warned = false; // once per outage: until the connection is ready again
      own.on('ready', () => {
        this.outage = undefined;
        warned = false;
      });
      own.on('error', (err: Error) => {
        if (own.status !== 'ready') this.outage = err;
        if (onError) return onError(err);
        log('connection error: %s', err.message);
        if (warned) return;
        warned = true;
        console.warn(
          `express-response-cache: cannot reach Redis at ${this.where}: ${err.message}; retrying, and until it answers whenStoreDown decides (by default the app answers, X-Cache: BYPASS)`,
        );
      });
      this.redis = own;
      this.owned = true;
      this.firstContact = firstContact(own);
    }
    this.isCluster = (this.redis as { isCluster?: boolean }).isCluster === true;
    this.replication = this.isCluster ? undefined : new RedisReplication(this.redis as Redis, () => this.lostAt, this.noteLost);
    this.unwatch = this.watchConnections();
    void this.firstContact.then(() => (this.contacted = true));
  }

  /** Note every lost connection (a node's, on a Cluster); returns how to stop listening. */
  private readonly noteLost = (): void => {
    this.lostAt = monotonicNow();
    this.replication?.forget();
  };

  private watchConnections(): () => void {
    const lost = this.noteLost;
    if (!this.isCluster) {
      const c = this.redis as Redis;
      c.on('close', lost);
      return () => void c.off('close', lost);
    }
    const cluster = this.redis as Cluster;
    const watched = new Set<Redis>();
    const watch = (node: Redis): void => {
      if (watched.has(node)) return;
      watched.add(node);
      node.on('close', lost);
    };
    const gone = (node: Redis): void => {
      lost();
      watched.delete(node);
      node.off('close', lost);
    };
    for (const node of cluster.nodes('all')) watch(node);
    cluster.on('+node', watch).on('-node', gone);
    return () => {
      cluster.off('+node', watch).off('-node', gone);
      for (const node of watched) node.off('close', lost);
      watched.clear();
    };
  }

  /**
   * A guarded write that must not go live whatever the records say: past the caller's
   * deadline (it has given up), or its making spans a lost connection (the records may be
   * gone with a restart or a failover).
   */
  private givenUp(guard: StoreGuard): boolean {
    return abandoned(guard) || this.lostAt >= guard.making.startedAt;
  }

  /** The ioredis client in use (for example to `duplicate()` it for pub/sub). */
  get client(): Redis | Cluster {
    return this.redis;
  }

  // The hit path of a Redis hit: one command, one reaction once connected.
  get(key: string): Promise<Buffer | undefined> {
    const name = this.key('e', key);
    if (this.contacted) return this.redis.getBuffer(name).then(unwrap, this.readFailed);
    return this.conn().then((c) => c.getBuffer(name).then(unwrap, this.readFailed));
  }

  async getMany(keys: readonly string[]): Promise<Array<Buffer | undefined>> {
    if (keys.length === 0) return [];
    const c = await this.conn();
    const names = keys.map((k) => this.key('e', k));
    // A Cluster MGET needs one slot; entries spread over slots, so read them one by one.
    // (MGET answers nil for a key of another type; GET fails with WRONGTYPE.)
    const values = this.isCluster ? await Promise.all(names.map((n) => c.getBuffer(n).catch(nullOnWrongType))) : await c.mgetBuffer(...names);
    return values.map(unwrap);
  }

  async set(key: string, value: Buffer, ttlMs: number, index: StoreIndex): Promise<void> {
    await this.setMany([{ key, value, ttlMs, index }]);
  }

  async setMany(entries: ReadonlyArray<StoreSetEntry>): Promise<void> {
    const live = entries.filter((e) => e.ttlMs > 0);
    if (live.length === 0) return;
    const c = await this.conn();
    const tokens = live.map(() => newToken());
    // 1. The entries, each under its own token (what its index members name), all sent at
    // once (a Cluster pipeline would need one slot).
    await Promise.all(live.map((e, i) => c.set(this.key('e', e.key), withHead(LIVE, tokens[i], e.value), 'PX', Math.ceil(e.ttlMs))));
    // 2. Then the indexes, one script call per index key (ARGV: ttl, member pairs).
    const adds = new Map<string, string[]>();
    live.forEach((e, i) => {
      const ttl = String(Math.ceil(e.ttlMs));
      for (const name of this.indexNames(e.index)) {
        const args = adds.get(name) ?? [];
        args.push(ttl, indexMember(tokens[i], e.key));
        adds.set(name, args);
      }
    });
    await Promise.all([...adds].map(([name, args]) => runScript(c, INDEX_ADD, [name], args)));
  }

  /**
   * A write that becomes live only if no invalidation record overlaps its making:
   *   1. the entry PENDING (readers see a miss) and its indexes, in parallel;
   *   2. then the records that could match it (its keys, path, tags, every prefix);
   *   3. then, if none is younger than the making, flip it LIVE (a script on its own slot,
   *      which fails if an invalidation deleted it meanwhile).
   * An invalidation writes its records before it reads the indexes, so either step 2 sees
   * its record or its index read sees this entry and deletes it: no window in between.
   */
  async setGuarded(e: StoreSetEntry, guard: StoreGuard): Promise<boolean> {
    if (!(e.ttlMs > 0)) return false;
    const c = await this.conn();
    const ttl = Math.ceil(e.ttlMs);
    const token = newToken();
    const entryKey = this.key('e', e.key);
    const member = indexMember(token, e.key);
    const indexes = [...this.indexNames(e.index)];
    await Promise.all([
      c.set(entryKey, withHead(PENDING, token, e.value), 'PX', ttl),
      // One script for every index where they share a server; on a Cluster one per slot.
      ...(this.isCluster
        ? indexes.map((name) => runScript(c, INDEX_ADD, [name], [String(ttl), member]))
        : [runScript(c, INDEX_ADD_ALL, indexes, [String(ttl), member])]),
    ]);
    const discard = (): false => {
      runScript(c, DISCARD_PENDING, [entryKey], [token]).catch((err) => log('discard failed: %s', (err as Error).message));
      return false;
    };
    if (this.givenUp(guard)) return discard();
    const names = [...new Set([e.key, ...guard.keys])].map((k) => this.key('r', 'k' + k));
    names.push(this.key('r', 'p' + e.index.path), ...e.index.tags.map((t) => this.key('r', 't' + t)));
    const [ages, prefixes] = await this.recordAges(c, names, String(guard.windowMs));
    // Measured after the records were read: the making is at most this old when they were.
    const elapsed = monotonicNow() - guard.making.startedAt;
    const margin = elapsed + driftMs(elapsed);
    const young = (age: number): boolean => age <= margin;
    let overlapped = margin >= guard.windowMs || this.givenUp(guard);
    for (const age of ages) if (Number(age) >= 0 && young(Number(age) / 1000)) overlapped = true;
    for (let i = 0; i + 1 < prefixes.length; i += 2) {
      if (e.index.path.startsWith(prefixes[i]) && young(Number(prefixes[i + 1]) / 1000)) overlapped = true;
    }
    if (overlapped) return discard();
    return Number(await runScript(c, MARK_LIVE, [entryKey], [token])) === 1;
  }

  /** The ages of `names`' records and the prefix records (µs; -1: no record): one script, or one per slot on a Cluster. */
  private async recordAges(c: Redis | Cluster, names: string[], windowMs: string): Promise<[Array<number | string>, string[]]> {
    const prefixKey = this.key('x', '');
    if (!this.isCluster) {
      const out = (await runScript(c, RECORD_AGES, [...names, prefixKey], [windowMs])) as Array<number | string>;
      return [out.slice(0, names.length), out.slice(names.length) as string[]];
    }
    return Promise.all([
      Promise.all(names.map((n) => runScript(c, RECORD_AGE, [n], []) as Promise<number>)),
      runScript(c, PREFIX_AGES, [prefixKey], [windowMs]) as Promise<string[]>,
    ]);
  }

  /** Records of an invalidation, kept `windowMs` (a repeat restarts its time). */
  async mark(target: GuardTarget, windowMs: number): Promise<void> {
    const c = await this.writeConn();
    // The first step of every invalidation: have the replica count ready for replicate().
    this.replication?.begin();
    const names = [...target.keys.map((k) => 'k' + k), ...target.paths.map((p) => 'p' + p), ...target.tags.map((t) => 't' + t)].map((n) => this.key('r', n));
    const calls: Array<Promise<unknown>> = names.map((n) => runScript(c, MARK_RECORD, [n], [String(windowMs)]));
    if (target.prefixes.length) calls.push(runScript(c, MARK_PREFIXES, [this.key('x', '')], [String(windowMs), ...target.prefixes]));
    await Promise.all(calls);
  }

  /**
   * Tell memory tiers on other instances what an invalidation removed (after the deletes:
   * a tier that copies an entry again before the delete would keep it otherwise), and wait
   * for every tier the message reached to acknowledge it (./redis-acks.ts), at most
   * `acknowledgeWithinMs`. One message per kind, in the TieredStore's format; the last one
   * asks for the acknowledgement (a subscriber gets messages in the order published, so a
   * tier that applied it applied the others).
   */
  async announce(target: GuardTarget): Promise<void> {
    if (this.channel === false) return;
    const channel = this.channel;
    const c = await this.writeConn();
    const messages = (
      [
        ['keys', target.keys],
        ['path', target.paths],
        ['prefix', target.prefixes],
        ['tags', target.tags],
      ] as Array<[string, readonly string[]]>
    ).filter(([, args]) => args.length > 0);
    if (messages.length === 0) return;
    const id = `${this.id}:${++this.announced}`;
    const since = monotonicNow();
    const before = this.isCluster ? await clusterSubscribers(this.redis as Cluster, channel) : 0;
    const reached = await Promise.all(
      messages.map(([op, args], n) =>
        c.publish(channel, JSON.stringify(n === messages.length - 1 ? { from: this.id, op, args, id, ack: 'set' } : { from: this.id, op, args })),
      ),
    );
    const need = Math.max(before, reached[reached.length - 1]);
    if (need > 0) await acknowledged(c, channel, id, need, ACK_BOUND_MS, () => this.lostAt >= since);
  }

  /** How long announce() may wait for the tiers' acknowledgements (GuardedStore adds it to the invalidation's bound). */
  get acknowledgeWithinMs(): number {
    return this.channel === false ? 0 : ACK_BOUND_MS;
  }

  /**
   * Problems at start: a replica count Redis refused to tell, INFO refused. The eviction
   * policy is read here too, and reported through watchSafety (./redis-eviction.ts).
   */
  async check(): Promise<string[]> {
    await this.conn();
    const problems = new Set<string>();
    // Read the replicas now, so the first invalidation does not wait for it.
    const refused = await this.replication?.prime();
    if (refused) problems.add(refused);
    await this.eviction.check();
    if (this.eviction.refused) problems.add(this.eviction.refused);
    return [...problems];
  }

  /** Hear when Redis may lose the keys invalidation reads (an evicting maxmemory-policy, evictions seen), and when not. */
  watchSafety(listener: (safety: StoreSafety) => void): () => void {
    return this.eviction.watch(listener);
  }

  /**
   * After an invalidation's deletes: read the policy and evictions again, so that an
   * invalidation that may have missed an entry (its index evicted) leaves this instance
   * bypassing the store before it resolves. Never rejects.
   */
  /** With `exact`, evictions since the last clean point cost a purge before the invalidation resolves (./redis-eviction.ts). */
  async afterInvalidate(options?: { readonly exact?: boolean; readonly readWithinMs?: number }): Promise<void> {
    const done = options?.exact ? this.eviction.settle(options.readWithinMs) : this.eviction.check();
    await done.catch((err: Error) => log('eviction check failed: %s', err.message));
  }

  /** Every entry of this store (`e:` keys under its prefix), deleted: after evictions may have cut some off their indexes. */
  private async purge(): Promise<number> {
    const c = await this.writeConn();
    const names = await this.scan(`${escapeGlob(`${this.clientPrefix}${this.base}e:{`)}*}`);
    let n = 0;
    for (let i = 0; i < names.length; i += BATCH) {
      const counts = await Promise.all(names.slice(i, i + BATCH).map((name) => c.unlink(name)));
      n += sum(counts);
    }
    return n;
  }

  async delete(keys: readonly string[]): Promise<number> {
    const c = await this.writeConn();
    const others = new Map<string, string[]>();
    const n = await this.deleteWrites(
      c,
      [...new Set(keys)].map((key) => ({ key, token: '' })),
      others,
    );
    this.tidier.add(c, others);
    return n;
  }

  async deleteByPath(path: string): Promise<number> {
    const c = await this.writeConn();
    return this.invalidate(c, this.key('p', path));
  }

  async deleteByPrefix(prefix: string): Promise<number> {
    const c = await this.writeConn();
    const pattern = pathIndexPattern(this.clientPrefix + this.base, prefix);
    const counts = await Promise.all(
      (await this.scan(pattern)).map((name) => {
        const path = parseRedisKey(this.base, 'p', name);
        return path === undefined || !path.startsWith(prefix) ? 0 : this.invalidate(c, name);
      }),
    );
    return sum(counts);
  }

  async deleteByTag(tags: readonly string[]): Promise<number> {
    const c = await this.writeConn();
    const counts = await Promise.all([...new Set(tags)].map((t) => this.invalidate(c, this.key('t', t))));
    return sum(counts);
  }

  async lock(key: string, ttlMs: number): Promise<string | undefined> {
    const c = await this.conn();
    const token = randomUUID();
    const ok = await c.set(this.key('l', key), token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
    return ok === 'OK' ? token : undefined;
  }

  async unlock(key: string, token: string): Promise<void> {
    const c = await this.conn();
    await runScript(c, UNLOCK, [this.key('l', key)], [token]);
  }

  async ping(): Promise<void> {
    const c = await this.conn();
    await c.ping();
  }

  async close(): Promise<void> {
    this.unwatch();
    this.eviction.stop();
    // Let the tidying queued so far finish (it may run on the replication's writer), for at most a second.
    if (this.owned) await Promise.race([this.tidier.idle(), new Promise((r) => setTimeout(r, 1_000).unref())]);
    await this.replication?.close();
    if (!this.owned) return;
    const c = this.redis as Redis;
    if (c.status === 'end') return;
    // Resolve when the socket is really gone (quit answers OK before that), at most 1 s.
    const ended = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      timer.unref();
      c.once('end', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    // Between reconnect attempts disconnect() only clears the timer: no 'end' will follow.
    if (c.status === 'reconnecting') return c.disconnect();
    // QUIT is answered only by a Redis that answers: bound it by the same second.
    if (c.status === 'ready') await Promise.race([c.quit().catch(() => undefined), ended]);
    if ((c.status as string) !== 'end') c.disconnect();
    await ended;
  }

  /** A key relative to the client (ioredis adds the client's keyPrefix). */
  private key(kind: KeyKind, name: string): string {
    return redisKey(this.base, kind, name);
  }

  private indexNames(index: StoreIndex): Set<string> {
    return new Set([this.key('p', index.path), ...index.tags.map((t) => this.key('t', t))]);
  }

  /** Wait, once, for a connection the store opened to answer or fail, then hand out the client. */
  private async conn(): Promise<Redis | Cluster> {
    await this.firstContact;
    // Refused by ioredis at once anyway without an offline queue: refused here with the reason.
    if (this.outage !== undefined && this.redis.status !== 'ready' && this.redis.options.enableOfflineQueue === false) {
      this.unreachable(new Error(`Redis connection is ${this.redis.status}`));
    }
    return this.redis;
  }

  /** Where invalidations write: their own connection once the master has replicas (WAIT goes there). */
  private async writeConn(): Promise<Redis | Cluster> {
    const own = this.replication?.writer;
    if (own === undefined || own === this.redis) return this.conn();
    await this.firstContact;
    return own;
  }

  /**
   * Have the writes of invalidations since `since` reached a replica? (WAIT 1, on their own
   * connection; `none` without replicas, and on a Cluster.)
   */
  replicate(since: number, timeoutMs: number): Promise<Replication> {
    return this.replication ? this.conn().then(() => this.replication!.replicate(since, timeoutMs)) : Promise.resolve('none');
  }

  /** The master had replicas when last looked at. */
  get replicated(): boolean {
    return this.replication?.replicated ?? false;
  }

  /**
   * Drop the members read from one index, then delete each entry that is still the write a
   * member names; the deleted entries' members in their other indexes go in the background.
   */
  private async invalidate(c: Redis | Cluster, indexKey: string): Promise<number> {
    const members = await c.zrange(indexKey, 0, -1);
    let n = 0;
    const others = new Map<string, string[]>();
    for (let i = 0; i < members.length; i += BATCH) {
      const batch = members.slice(i, i + BATCH);
      await c.zrem(indexKey, ...batch);
      // A member too short to hold a token was not written by this layout: nothing to delete.
      const writes = batch.map(parseIndexMember).filter((w) => w !== undefined);
      n += await this.deleteWrites(c, writes, others, indexKey);
    }
    this.tidier.add(c, others);
    return n;
  }

  /**
   * Delete each entry that still carries its token ('' for any), and each counter whose
   * tags still carry its member's (./redis-counters.ts), counting those removed, and add to
   * `others` the members the removed ones have in their indexes (but `skip`).
   */
  private async deleteWrites(
    c: Redis | Cluster,
    all: ReadonlyArray<{ key: string; token: string }>,
    others: Map<string, string[]>,
    skip?: string,
  ): Promise<number> {
    // A counter's member (a tag index's only) names `c:{key}`, not an entry.
    const writes = all.filter((w) => !isCounterToken(w.token));
    const counters = writes.length === all.length ? [] : all.filter((w) => isCounterToken(w.token));
    const [heads, removed] = await Promise.all([
      Promise.all(writes.map((w) => runScriptBuffer(c, DELETE_ENTRY_HEAD, [this.key('e', w.key)], [w.token, String(INDEX_HEAD_BYTES)]))),
      Promise.all(counters.map((w) => runScript(c, DELETE_COUNTER, [this.key('c', w.key), this.key('g', w.key)], [w.token]))),
    ]);
    let n = 0;
    removed.forEach((value, j) => {
      if (typeof value !== 'string') return; // not removed: made again since, expired, or gone through another tag
      n++;
      const held = counterTags(value);
      if (held === undefined) return;
      const member = indexMember(held.token, counters[j].key);
      for (const tag of held.tags) {
        const name = this.key('t', tag);
        if (name === skip) continue;
        const list = others.get(name);
        if (list) list.push(member);
        else others.set(name, [member]);
      }
    });
    heads.forEach((head, j) => {
      if (head === 0) return; // not removed: rewritten, expired, or gone through another index
      n++;
      if (!Buffer.isBuffer(head)) return; // a key of another type, unlinked: no indexes to read
      // Token, then the entry's bytes: its path and tags first.
      const index = head.length > TOKEN_LENGTH ? decodeIndex(head.subarray(TOKEN_LENGTH)) : undefined;
      if (index === undefined) return;
      const member = indexMember(head.toString('latin1', 0, TOKEN_LENGTH), writes[j].key);
      for (const name of this.indexNames(index)) {
        if (name === skip) continue;
        const list = others.get(name);
        if (list) list.push(member);
        else others.set(name, [member]);
      }
    });
    return n;
  }

  /** Index members removed in the background after invalidations (their entries were deleted through another index). */
  get indexMembersTidied(): number {
    return this.tidier.membersRemoved;
  }

  /** Resolves once the background tidying queued so far is done. */
  tidied(): Promise<void> {
    return this.tidier.idle();
  }

  /**
   * SCAN every master for `pattern`; answers keys relative to the client (its keyPrefix
   * removed). With a `limit`, each master stops once that many are found (cache.keys(),
   * cache.inspect(): bounded in time and memory however big the database).
   */
  private async scan(pattern: string, limit = Infinity): Promise<string[]> {
    const nodes = this.isCluster ? (this.redis as Cluster).nodes('master') : [this.redis as Redis];
    if (nodes.length === 0) throw new Error('RedisStore: no Cluster master is known yet; cannot scan');
    const found = new Set<string>();
    await Promise.all(
      nodes.map(async (node) => {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
          for (const k of keys) if (k.startsWith(this.clientPrefix)) found.add(k.slice(this.clientPrefix.length));
          cursor = next;
        } while (cursor !== '0' && found.size < limit);
      }),
    );
    return [...found];
  }

  /** Keys of entries starting with `prefix`, at most `limit`: SCAN on every master, never KEYS. */
  async keys(prefix: string, limit: number): Promise<string[]> {
    await this.conn();
    const pattern = `${escapeGlob(`${this.clientPrefix}${this.base}e:{${escapeChars(prefix)}`)}*}`;
    const out: string[] = [];
    for (const name of await this.scan(pattern, limit)) {
      const key = parseRedisKey(this.base, 'e', name);
      if (key !== undefined && key.startsWith(prefix)) out.push(key);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Integer counters (./redis-counters.ts): one command or script on the counter's own slot. */
  async counter(op: CounterOp): Promise<number | undefined> {
    const client = await this.conn();
    return redisCounter(
      {
        client,
        key: (kind, name) => this.key(kind, name),
        scan: async (prefix) => {
          const found = await this.scan(`${escapeGlob(`${this.clientPrefix}${this.base}c:{${escapeChars(prefix)}`)}*}`);
          return found.map((k) => parseRedisKey(this.base, 'c', k)).filter((name) => name !== undefined && name.startsWith(prefix)) as string[];
        },
        tidy: (members) => this.tidier.add(client, members),
      },
      op,
    );
  }
}

/**
 * The value as one string: head and body in one buffer. (Sending the body with APPEND
 * after a SET of the head saved this copy, but Redis grows an appended string greedily:
 * the entry's key took twice its bytes, 3.56x a plain SET in bench/REDIS-MEMORY.md.)
 */
function withHead(state: number, token: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEAD + body.length);
  out[0] = state;
  out.write(token, 1, TOKEN_LENGTH, 'latin1');
  body.copy(out, HEAD);
  return out;
}

/**
 * A writer token: 8 ASCII characters (48 random bits), so concurrent writers of one key
 * never share one. It goes into the entry's head and into each of its index members.
 */
function newToken(): string {
  return randomBytes(6).toString('base64');
}

/** The caller of a guarded write has given up on it (its deadline passed). */
function abandoned(guard: StoreGuard): boolean {
  return guard.deadline !== undefined && monotonicNow() > guard.deadline;
}

/**
 * A key of another type at an entry's name (another program wrote a hash there) is a miss,
 * not a failure: the miss's SET replaces it. Failing would BYPASS that URL forever.
 */
function missOnWrongType(err: unknown, otherwise: (err: unknown) => never = rethrow): undefined {
  if (err instanceof Error && err.message.startsWith('WRONGTYPE')) return undefined;
  return otherwise(err);
}

function rethrow(err: unknown): never {
  throw err;
}

function nullOnWrongType(err: unknown): null {
  return missOnWrongType(err) ?? null;
}

/** A stored value without its state head: undefined while pending; foreign bytes pass on (a corrupt entry). */
function unwrap(raw: Buffer | null): Buffer | undefined {
  if (raw === null) return undefined;
  if (raw.length >= HEAD && raw[0] === LIVE) return raw.subarray(HEAD);
  if (raw.length >= HEAD && raw[0] === PENDING) return undefined;
  return raw;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * Resolves at the first 'ready', 'error', 'close' or 'end' of a new connection (at once if it
 * is up). Without this wait, with no offline queue, every call made right after construction
 * would fail while the connection is still being set up.
 */
function firstContact(c: Redis): Promise<void> {
  if (c.status === 'ready') return Promise.resolve();
  // With `lazyConnect` (in redisOptions) nothing would ever connect: start it here.
  if (c.status === 'wait') c.connect().catch(() => undefined);
  return new Promise((resolve) => {
    const done = (): void => {
      c.off('ready', done).off('error', done).off('close', done).off('end', done);
      resolve();
    };
    c.on('ready', done).on('error', done).on('close', done).on('end', done);
  });
}

type IORedisModule = typeof import('ioredis');

/** ioredis is an optional peer dependency: load it only when the store must open a connection. */
function loadIoredis(): IORedisModule['Redis'] {
  const load = typeof require === 'function' ? require : createRequire(`${process.cwd()}/`);
  try {
    return (load('ioredis') as IORedisModule).Redis;
  } catch (err) {
    throw new Error('RedisStore: a Redis URL needs the "ioredis" package: npm install ioredis', { cause: err });
  }
}

/** A Redis URL without its password, for messages. */
function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the given URL';
  }
}
