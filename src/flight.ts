/**
 * Single flight: while one caller (the leader) computes a key, others (followers) wait for
 * its result instead of computing it again. A follower never waits past its timeout, and
 * a leader that gives up resolves `undefined`, so nobody waits forever.
 */

interface Flight<T> {
  readonly promise: Promise<T | undefined>;
  settle(result: T | undefined, error?: unknown, failed?: boolean): void;
}

export interface Leader<T> {
  /** Hand the result (undefined: nothing to share) to every follower. */
  resolve(value: T | undefined): void;
  /** Rethrow `error` to every follower. */
  reject(error: unknown): void;
}

export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>();

  get size(): number {
    return this.flights.size;
  }

  /** Become the leader for `key`, or undefined when someone already is. */
  lead(key: string): Leader<T> | undefined {
    if (this.flights.has(key)) return undefined;
    let settle!: Flight<T>['settle'];
    const promise = new Promise<T | undefined>((resolve, reject) => {
      settle = (value, error, failed) => (failed ? reject(error) : resolve(value));
    });
    // Followers attach their own handlers; this one keeps an unobserved rejection quiet.
    promise.catch(() => {});
    const flight: Flight<T> = { promise, settle };
    this.flights.set(key, flight);
    let done = false;
    const finish = (value: T | undefined, error?: unknown, failed = false): void => {
      if (done) return;
      done = true;
      if (this.flights.get(key) === flight) this.flights.delete(key);
      flight.settle(value, error, failed);
    };
    return { resolve: (value) => finish(value), reject: (error) => finish(undefined, error, true) };
  }

  /**
   * Wait for the leader of `key`: undefined when there is none, else a promise of its
   * result, of undefined after `timeoutMs`, or of its error.
   */
  wait(key: string, timeoutMs: number): Promise<T | undefined> | undefined {
    const flight = this.flights.get(key);
    if (!flight) return undefined;
    return new Promise<T | undefined>((resolve, reject) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      timer.unref?.();
      flight.promise.then(
        (v) => { clearTimeout(timer); resolve(v); },
        (e) => { clearTimeout(timer); reject(e); },
      );
    });
  }
}
