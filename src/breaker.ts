/**
 * A circuit breaker for the store: after `threshold` consecutive failures it opens and
 * the cache stops calling the store; after a cooldown one call is let through as a probe,
 * and its success closes the circuit. Cooldowns double up to `maxCooldownMs`, so caching
 * resumes within that bound of the store's return.
 */

export interface BreakerOptions {
  threshold?: number;
  cooldownMs?: number;
  maxCooldownMs?: number;
  now?: () => number;
}

export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private cooldown: number;
  private probing = false;
  private probeAt = 0;
  private readonly threshold: number;
  private readonly baseCooldown: number;
  private readonly maxCooldown: number;
  private readonly now: () => number;

  constructor(options: BreakerOptions = {}) {
    this.threshold = options.threshold ?? 3;
    this.baseCooldown = options.cooldownMs ?? 500;
    this.maxCooldown = options.maxCooldownMs ?? 4000;
    this.cooldown = this.baseCooldown;
    this.now = options.now ?? Date.now;
  }

  /** True while the store is considered out (open, not yet probing). */
  get isOpen(): boolean {
    return this.failures >= this.threshold;
  }

  /** May a store call go ahead now? In the open state, one probe per cooldown. */
  allow(): boolean {
    if (this.failures < this.threshold) return true;
    const now = this.now();
    // A probe whose outcome never came back (a caller that asked and made no call) is not
    // waited for forever: after the longest cooldown another probe goes.
    if ((this.probing && now - this.probeAt < this.maxCooldown) || now < this.openUntil) return false;
    this.probing = true;
    this.probeAt = now;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.probing = false;
    this.cooldown = this.baseCooldown;
  }

  failure(): void {
    const wasProbe = this.probing;
    this.probing = false;
    this.failures++;
    if (this.failures < this.threshold) return;
    if (wasProbe) this.cooldown = Math.min(this.cooldown * 2, this.maxCooldown);
    this.openUntil = this.now() + this.cooldown;
  }
}
