/**
 * Faults injected while traffic flows, one at a time, each bounded: Redis paused
 * (CLIENT PAUSE ALL), Redis killed with SIGKILL and restarted empty on the same port,
 * extra latency through every instance's proxy, and (when the plan has `slowMs`) one
 * instance's link made slow rather than down: its proxy delays every chunk past
 * 3 × storeTimeout while the other instance's link stays fast (issue 20: followers of a
 * write that the slow link cut short must not get the old body after another instance's
 * acknowledged PUT). The schedule cycles through the kinds.
 */

import type { TcpProxy as LatencyProxy } from '../helpers/tcp-proxy';
import type { SoakRedis } from './redis-server';
import { sleep } from '../helpers/wait';

export type FaultKind = 'pause' | 'kill' | 'latency' | 'slow';

export interface FaultPlan {
  /** ms of normal traffic before the first fault and between faults. */
  readonly gapMs: number;
  /** How long each fault lasts (pause length, time dead, latency window). */
  readonly pauseMs: number;
  readonly downMs: number;
  readonly latencyMs: number;
  /** The proxy's delay during a latency fault (its baseline is restored after). */
  readonly latencyDelayMs: number;
  /** How long the last instance's link is slow; absent or 0: no slow fault. */
  readonly slowMs?: number;
  /** Its proxy's delay meanwhile (≥ 3 × storeTimeout: slower than a guarded write's deadline). */
  readonly slowDelayMs?: number;
}

export class Faults {
  readonly injected = new Map<FaultKind, number>();
  /** What is going on right now ('none', 'paused', 'after-pause', …), for the oracle's breakdown. */
  active = 'none';
  private readonly log: string[] = [];

  constructor(
    private readonly redis: SoakRedis,
    /** One proxy per instance; latency slows them all, `slow` the last one only. */
    private readonly proxies: readonly LatencyProxy[],
    private readonly plan: FaultPlan,
    private readonly now: () => number,
    /** When traffic stops (ms since the start): no fault starts that would outlast it. */
    private readonly endsAt: number,
  ) {}

  /** Inject faults in turn until `done()`; every fault is over when this resolves. */
  async run(done: () => boolean): Promise<void> {
    const kinds: FaultKind[] = ['pause', 'kill', 'latency', ...((this.plan.slowMs ?? 0) > 0 ? (['slow'] as const) : [])];
    for (let n = 0; !done(); n++) {
      await this.idle(this.plan.gapMs, done);
      const kind = kinds[n % kinds.length];
      // Leave a gap after the last fault, so every run also shows the recovery.
      if (done() || this.now() + this.lasts(kind) + this.plan.gapMs / 2 > this.endsAt) break;
      await this.inject(kind);
    }
  }

  /** One line per fault: when it started and ended (ms since the run started). */
  get timeline(): readonly string[] {
    return this.log;
  }

  private lasts(kind: FaultKind): number {
    if (kind === 'slow') return this.plan.slowMs ?? 0;
    return kind === 'pause' ? this.plan.pauseMs : kind === 'kill' ? this.plan.downMs + 300 : this.plan.latencyMs;
  }

  private async inject(kind: FaultKind): Promise<void> {
    const started = this.now();
    this.active = kind === 'kill' ? 'killed' : kind === 'pause' ? 'paused' : kind === 'slow' ? 'slow-link' : 'latency';
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
    try {
      if (kind === 'pause') {
        await this.redis.pause(this.plan.pauseMs);
        await sleep(this.plan.pauseMs);
      } else if (kind === 'kill') {
        await this.redis.kill();
        await sleep(this.plan.downMs);
        await this.redis.restart();
      } else if (kind === 'slow') {
        const slow = this.proxies[this.proxies.length - 1];
        const baseline = slow.delayMs;
        slow.delayMs = this.plan.slowDelayMs ?? 350;
        await sleep(this.plan.slowMs ?? 0);
        slow.delayMs = baseline;
      } else {
        const baselines = this.proxies.map((p) => p.delayMs);
        for (const p of this.proxies) p.delayMs = this.plan.latencyDelayMs;
        await sleep(this.plan.latencyMs);
        this.proxies.forEach((p, i) => (p.delayMs = baselines[i]));
      }
    } finally {
      // The gap after a fault is when the cache recovers: label it so violations say so.
      this.active = `after-${kind}`;
      this.log.push(`${kind} ${Math.round(started)}–${Math.round(this.now())} ms`);
    }
  }

  private async idle(ms: number, done: () => boolean): Promise<void> {
    const until = this.now() + ms;
    while (!done() && this.now() < until) await sleep(Math.min(50, until - this.now()));
  }
}
