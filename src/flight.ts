/**
 * Single flight: while one caller (the leader) makes what a key needs, others (followers)
 * wait for how it ended instead of making it again. A follower never waits past its
 * timeout. The flight hands nothing over but its outcome: after `stored`, followers read
 * the store (so what they get passed the invalidation guard, and picks their own variant);
 * after `none`, they come back and one of them leads the next flight.
 */

/** How a leader ended. */
export type FlightOutcome =
  /** what it made is in the store: read it */
  | { readonly kind: 'stored' }
  /** nothing to share (not storable, aborted, refused by the guard): one follower leads next */
  | { readonly kind: 'none' }
  /** the store failed: followers make their own, without a flight */
  | { readonly kind: 'failed' }
  /** the answer could not be stored (hit-for-miss): every follower makes its own at once, none waits for another */
  | { readonly kind: 'uncacheable' }
  /** the making threw: followers get the same error (values.getOrSet) */
  | { readonly kind: 'error'; readonly error: unknown }
  /**
   * the store could not take the result, and no invalidation here matched it since the
   * making started: followers take it as it is (a value; a response, for its own variant)
   */
  | { readonly kind: 'shared'; readonly value: unknown };

export interface FlightLeader {
  /** End the flight (first call wins; later ones are ignored). */
  finish(outcome: FlightOutcome): void;
}

/**
 * One key's making. Its outcome promise is made when the first follower waits: a leader
 * nobody follows (every miss of a new key) allocates no promise and no resolver.
 */
class Flight implements FlightLeader {
  private outcome: Promise<FlightOutcome> | undefined = undefined;
  private settle: ((outcome: FlightOutcome) => void) | undefined = undefined;
  private done = false;

  constructor(
    private readonly flights: Map<string, Flight>,
    private readonly key: string,
    readonly path: string,
  ) {}

  /** How the leader ended, for a follower (the flight is still running: finish() settles it). */
  ended(): Promise<FlightOutcome> {
    return (this.outcome ??= new Promise<FlightOutcome>((resolve) => (this.settle = resolve)));
  }

  finish(outcome: FlightOutcome): void {
    if (this.done) return;
    this.done = true;
    if (this.flights.get(this.key) === this) this.flights.delete(this.key);
    this.settle?.(outcome);
  }
}

export class SingleFlight {
  private readonly flights = new Map<string, Flight>();

  get size(): number {
    return this.flights.size;
  }

  has(key: string): boolean {
    return this.flights.has(key);
  }

  /** Become the leader for `key` (indexed under `path`), or undefined when someone already is. */
  lead(key: string, path = ''): FlightLeader | undefined {
    if (this.flights.has(key)) return undefined;
    const flight = new Flight(this.flights, key, path);
    this.flights.set(key, flight);
    return flight;
  }

  /** Wait for the leader of `key`: undefined when there is none, else its outcome or 'timeout'. */
  wait(key: string, timeoutMs: number): Promise<FlightOutcome | 'timeout'> | undefined {
    const flight = this.flights.get(key);
    if (!flight) return undefined;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs));
      timer.unref?.();
      void flight.ended().then((o) => {
        clearTimeout(timer);
        resolve(o);
      });
    });
  }

  /**
   * Flights an invalidation matched stop taking followers: a request that arrives after it
   * starts a new flight rather than wait for one that read the old data.
   */
  detach(matches: (key: string, path: string) => boolean): void {
    if (this.flights.size === 0) return;
    for (const [key, f] of this.flights) if (matches(key, f.path)) this.flights.delete(key);
  }
}
