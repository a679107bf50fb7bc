/**
 * Faults injected while traffic flows, one at a time, each bounded: Redis paused
 * (CLIENT PAUSE ALL), Redis killed with SIGKILL and restarted empty on the same port, and
 * extra latency through the proxy. The schedule cycles through the three kinds.
 */

import type { TcpProxy as LatencyProxy } from '../helpers/tcp-proxy';
import type { SoakRedis } from './redis-server';
import { sleep } from '../helpers/wait';

export type FaultKind = 'pause' | 'kill' | 'latency';

export interface FaultPlan {
  /** ms of normal traffic before the first fault and between faults. */
  readonly gapMs: number;
  /** How long each fault lasts (pause length, time dead, latency window). */
  readonly pauseMs: number;
  readonly downMs: number;
  readonly latencyMs: number;
  /** The proxy's delay during a latency fault (its baseline is restored after). */
  readonly latencyDelayMs: number;
}

export class Faults {
  readonly injected = new Map<FaultKind, number>();
  /** What is going on right now ('none', 'paused', 'after-pause', …), for the oracle's breakdown. */
  active = 'none';
  private readonly log: string[] = [];

  constructor(
    private readonly redis: SoakRedis,
    private readonly proxy: LatencyProxy,
    private readonly plan: FaultPlan,
    private readonly now: () => number,
    /** When traffic stops (ms since the start): no fault starts that would outlast it. */
    private readonly endsAt: number,
  ) {}

  /** Inject faults in turn until `done()`; every fault is over when this resolves. */
  async run(done: () => boolean): Promise<void> {
    const kinds: FaultKind[] = ['pause', 'kill', 'latency'];
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
    return kind === 'pause' ? this.plan.pauseMs : kind === 'kill' ? this.plan.downMs + 300 : this.plan.latencyMs;
  }

  private async inject(kind: FaultKind): Promise<void> {
    const started = this.now();
    this.active = kind === 'kill' ? 'killed' : kind === 'pause' ? 'paused' : 'latency';
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
    try {
      if (kind === 'pause') {
        await this.redis.pause(this.plan.pauseMs);
        await sleep(this.plan.pauseMs);
      } else if (kind === 'kill') {
        await this.redis.kill();
        await sleep(this.plan.downMs);
        await this.redis.restart();
      } else {
        const baseline = this.proxy.delayMs;
        this.proxy.delayMs = this.plan.latencyDelayMs;
        await sleep(this.plan.latencyMs);
        this.proxy.delayMs = baseline;
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
