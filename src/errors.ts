/**
 * Error classes with stable codes. Every error the cache reports through `onError` is a
 * `CacheError`; option errors are plain `TypeError`s thrown at construction.
 */

export type CacheErrorCode =
  | 'ERC_STORE_FAILED'
  | 'ERC_STORE_TIMEOUT'
  | 'ERC_STORE_UNAVAILABLE'
  | 'ERC_ENTRY_CORRUPT'
  | 'ERC_SERIALIZE_FAILED'
  | 'ERC_CALLBACK_FAILED'
  | 'ERC_STORE_CONFIG'
  | 'ERC_COUNTER_UNAVAILABLE'
  | 'ERC_COUNTER_OVERFLOW'
  | 'ERC_FAILOVER_TIMEOUT';

export class CacheError extends Error {
  readonly code: CacheErrorCode;

  constructor(code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A store call rejected. `cause` holds what the store threw. */
export class StoreError extends CacheError {
  constructor(message: string, cause?: unknown) {
    super('ERC_STORE_FAILED', message, { cause });
  }
}

/** A store call took longer than `storeTimeout`; the request went on without it. */
export class StoreTimeoutError extends CacheError {
  constructor(operation: string, timeoutMs: number) {
    super('ERC_STORE_TIMEOUT', `store ${operation} took longer than ${timeoutMs} ms`);
  }
}

/** The circuit breaker is open: the store failed repeatedly and is not being called. */
export class StoreUnavailableError extends CacheError {
  constructor(operation: string) {
    super('ERC_STORE_UNAVAILABLE', `store ${operation} skipped: the store is unavailable`);
  }
}

/** Stored bytes did not decode (garbage, truncated, or another codec version): a miss. */
export class EntryCorruptError extends CacheError {
  constructor(message: string) {
    super('ERC_ENTRY_CORRUPT', message);
  }
}

/** A value could not be serialized, deserialized or failed `parse`. */
export class SerializeError extends CacheError {
  constructor(message: string, cause?: unknown) {
    super('ERC_SERIALIZE_FAILED', message, { cause });
  }
}

/** A function given in the options (tags, an invalidation target) threw where no request could hear it. */
export class CallbackError extends CacheError {
  constructor(message: string, cause?: unknown) {
    super('ERC_CALLBACK_FAILED', message, { cause });
  }
}

/** The store is configured in a way that defeats the cache (say, a Redis eviction policy); reported once at start. */
export class StoreConfigError extends CacheError {
  constructor(message: string) {
    super('ERC_STORE_CONFIG', message);
  }
}

/**
 * A counter operation could not reach the store (it failed, timed out, or the breaker is
 * open). Unlike values, counters reject: a rate limiter must choose to fail open or
 * closed, never read a silent 0. `cause` holds the store's own error.
 */
export class CounterUnavailableError extends CacheError {
  constructor(operation: string, key: string, cause?: unknown) {
    super('ERC_COUNTER_UNAVAILABLE', `counter ${operation} of ${key} failed: the store did not answer`, { cause });
  }
}

/** An increment would take a counter past Number.MAX_SAFE_INTEGER (either way); the counter is left as it was. */
export class CounterOverflowError extends CacheError {
  constructor(key: string, by: number) {
    super('ERC_COUNTER_OVERFLOW', `counter ${key} + ${by} would leave the safe integer range; it was not changed`);
  }
}

/**
 * No replica confirmed an invalidation within `failoverTimeout` (the master kept failing,
 * or its replicas lag): the answer it held went out anyway, and a failover now may bring
 * back what it removed until their TTL.
 */
export class FailoverTimeoutError extends CacheError {
  constructor(limitMs: number) {
    super('ERC_FAILOVER_TIMEOUT', `no Redis replica confirmed an invalidation within failoverTimeout (${limitMs / 1000} s); the answer was sent without it`);
  }
}
