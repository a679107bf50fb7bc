/**
 * The soak harness: a real redis-server, a TCP proxy per instance in front of it adding latency (1 ms), two app
 * instances (Express 5 and Express 4, each its own createCache() on its own proxy) sharing one
 * in-process database, virtual users hammering both, faults injected on a schedule, and an
 * oracle checking every answer. Used by `npm run soak` (run.ts) and by soak.test.ts.
 */

import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import type { CacheStats, ExpressCacheOptions } from '../../middleware';
import { EXPRESSES } from '../helpers/express';
import { cacheOptions, Db, startInstance, type SoakInstance } from './app';
import { virtualUser } from './client';
import { startTcpProxy, type TcpProxy as LatencyProxy } from '../helpers/tcp-proxy';
import { Faults, type FaultKind, type FaultPlan } from './faults';
import { Oracle, type Violation } from './oracle';
import { SoakRedis } from './redis-server';

export interface InstanceSpec {
  readonly name: string;
  readonly express: 4 | 5;
  readonly tiered: boolean;
}

export interface SoakConfig {
  readonly label: string;
  readonly seconds: number;
  readonly users: number;
  readonly instances: readonly InstanceSpec[];
  readonly faults: FaultPlan;
  /** The proxy's delay outside latency faults. @default 1 */
  readonly baseDelayMs?: number;
  /** @default 20 */
  readonly rows?: number;
  /** @default 3 */
  readonly pages?: number;
  /** Cache options added to both instances (a control run passes `bypass: () => true`). */
  readonly cacheOptions?: ExpressCacheOptions;
  /** Pause between one user's requests, ms (min, max). @default [0, 3] */
  readonly thinkMs?: readonly [number, number];
}

export interface SoakResult {
  readonly config: SoakConfig;
  readonly oracle: Oracle;
  readonly faults: ReadonlyMap<FaultKind, number>;
  readonly timeline: readonly string[];
  readonly handlerCalls: ReadonlyMap<string, number>;
  readonly instances: ReadonlyArray<{ name: string; stats: CacheStats; errors: ReadonlyMap<string, number> }>;
  readonly elapsedMs: number;
}

/** Run one soak; every server, connection and process it opened is closed when it resolves. */
export async function runSoak(config: SoakConfig): Promise<SoakResult> {
  const rows = config.rows ?? 20;
  const pages = config.pages ?? 3;
  const namespace = `soak-${process.pid}-${randomBytes(3).toString('hex')}`;
  const db = new Db(rows);
  const oracle = new Oracle();
  const opened: SoakInstance[] = [];
  let redis: SoakRedis | undefined;
  const proxies: LatencyProxy[] = [];
  try {
    redis = await SoakRedis.start();
    // Each instance its own link to Redis, so one can be slow while the other is not.
    for (const spec of config.instances) {
      const proxy = await startTcpProxy(redis.port, { delayMs: config.baseDelayMs ?? 1 });
      proxies.push(proxy);
      const url = `redis://127.0.0.1:${proxy.port}`;
      const express = EXPRESSES.find(([, , major]) => major === spec.express)![1];
      opened.push(await startInstance(spec.name, express, db, cacheOptions(namespace, { redis: url, tiered: spec.tiered, ...config.cacheOptions })));
    }
    await Promise.all(opened.map((i) => waitForStore(i)));

    const started = performance.now();
    const now = (): number => performance.now() - started;
    const done = (): boolean => now() >= config.seconds * 1000;
    const faults = new Faults(redis, proxies, config.faults, now, config.seconds * 1000);
    const traffic = {
      targets: opened,
      oracle,
      rows,
      pages,
      now,
      done,
      faults: () => faults.active,
      thinkMs: config.thinkMs ?? [0, 3],
    };
    await Promise.all([faults.run(done), ...Array.from({ length: config.users }, (_, n) => virtualUser(`u${n + 1}`, traffic))]);
    const elapsedMs = now();
    return {
      config,
      oracle,
      elapsedMs,
      faults: faults.injected,
      timeline: faults.timeline,
      handlerCalls: db.calls,
      instances: opened.map((i) => ({ name: i.name, stats: i.cache.stats(), errors: i.errors })),
    };
  } finally {
    for (const i of opened) await i.close();
    for (const p of proxies) await p.close();
    await redis?.stop();
  }
}

/** Wait (bounded) until the instance's cache reaches Redis, so the run starts warm-connected. */
async function waitForStore(i: SoakInstance): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!(await i.cache.ping())) {
    if (performance.now() > deadline) throw new Error(`soak: instance ${i.name} cannot reach Redis`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The counts, printed at the end of a run. */
export function formatResult(r: SoakResult): string {
  const o = r.oracle;
  const list = (m: ReadonlyMap<string, number>): string =>
    [...m]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(', ') || '-';
  const rate = (o.counts.requests / (r.elapsedMs / 1000)).toFixed(0);
  const lines = [
    `soak "${r.config.label}": ${r.config.instances.map((i) => `${i.name} (express ${i.express}${i.tiered ? ', tiered' : ''})`).join(' + ')}, ${r.config.users} users, ${(r.elapsedMs / 1000).toFixed(1)} s`,
    `  requests: ${o.counts.requests} (${rate}/s)`,
    `  slowest: ${o.latency.maxMs.toFixed(0)} ms, ${o.latency.max}; over 1 s: ${o.latency.overOneSecond}`,
    ...o.latency.slowest.map((line) => `    slow: ${line}`),
    `  by status: ${list(o.counts.byStatus)}`,
    `  GETs by X-Cache: ${list(o.counts.byXCache)}`,
    ...[...o.byPhase].map(([phase, m]) => `    sent during ${phase}: ${list(m)}`),
    `  handler calls: ${list(r.handlerCalls)}`,
    `  faults injected: ${list(r.faults)}  [${r.timeline.join('; ')}]`,
    ...r.instances.map(
      (i) =>
        `  ${i.name}: hits=${i.stats.hits} misses=${i.stats.misses} stale=${i.stats.stale} bypasses=${i.stats.bypasses} stores=${i.stats.stores} invalidations=${i.stats.invalidations} errors=${i.stats.errors} (${list(i.errors)})`,
    ),
    `  acks held by a kept invalidation (binding other instances once it landed): ${o.global.heldCount}`,
    `  violations: ${o.totalViolations}${o.totalViolations ? ` (${list(o.violations)})` : ''}`,
  ];
  if (o.breakdown.size)
    lines.push('  by kind / X-Cache / writer / faults at send:', ...[...o.breakdown].sort((a, b) => b[1] - a[1]).map(([k, v]) => `    ${v} × ${k}`));
  if (o.examples.length) {
    lines.push('  examples (first few of each kind):');
    for (const v of o.examples) {
      const [asked, answered] = describeViolation(v);
      lines.push(`    ${asked}`, `      ${answered}`);
    }
  }
  return lines.join('\n');
}

/** A violation in two lines, what was sent and what came back: the reproduction. */
export function describeViolation(v: Violation): [string, string] {
  const h = Object.entries(v.sent.headers)
    .map(([k, val]) => `${k}: ${val}`)
    .join('; ');
  return [
    `[${v.kind}] t=${Math.round(v.sent.at)} ms ${v.sent.user} → ${v.sent.instance}: ${v.sent.method} ${v.sent.path} {${h}} faults=${v.sent.faults}`,
    `got ${v.got.error ?? v.got.status} X-Cache=${v.got.xCache || '-'} in ${v.got.ms.toFixed(1)} ms: ${v.got.body.slice(0, 160)} — ${v.detail}`,
  ];
}
