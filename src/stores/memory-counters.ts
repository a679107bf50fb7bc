/**
 * Counters in a MemoryStore (`CacheStore.counter`): each one is an LRU entry of 16 bytes,
 * its expiry then its value (two doubles), so counters share the store's bounds, eviction
 * and sweep. Every operation runs synchronously from read to write: no other call can run
 * in between, so increments are atomic without a lock. A cell is filed under the tags its
 * first increment gave, in the store's tag index, so deleteByTag removes it (or bans it:
 * reads go through the store's peek, which honours bans); a rewrite keeps those tags.
 */

import type { CounterOp } from './store';

/** What the counters need of their MemoryStore: synchronous cells on its LRU, and its clock. */
export interface CounterCells {
  peek(key: string): Buffer | undefined;
  /** `tags` files a new cell; undefined keeps the tags the cell was filed under. */
  put(key: string, value: Buffer, ttlMs: number, tags: readonly string[] | undefined): void;
  remove(key: string): boolean;
  keysWith(prefix: string): string[];
  now(): number;
}

function read(cells: CounterCells, key: string): { value: number; expiresAt: number } | undefined {
  const buf = cells.peek(key);
  if (buf === undefined || buf.length !== 16) return undefined;
  const expiresAt = buf.readDoubleBE(0);
  // Judged on the LRU's own clock, so a cell it still serves is one whose expiry we keep.
  return expiresAt > cells.now() ? { value: buf.readDoubleBE(8), expiresAt } : undefined;
}

function write(cells: CounterCells, key: string, value: number, expiresAt: number, tags?: readonly string[]): void {
  const buf = Buffer.allocUnsafe(16);
  buf.writeDoubleBE(expiresAt, 0);
  buf.writeDoubleBE(value, 8);
  cells.put(key, buf, expiresAt - cells.now(), tags);
}

export function memoryCounter(cells: CounterCells, op: CounterOp): number | undefined {
  switch (op.op) {
    case 'increment': {
      const held = read(cells, op.key);
      const value = (held?.value ?? 0) + op.by;
      if (!Number.isSafeInteger(value)) return undefined;
      // A new counter gets its window and tags; an existing one keeps both (a fixed window).
      if (held) write(cells, op.key, value, held.expiresAt);
      else write(cells, op.key, value, cells.now() + Math.max(1, Math.ceil(op.ttlMs)), op.tags ?? []);
      return value;
    }
    case 'get':
      return read(cells, op.key)?.value;
    case 'expire': {
      const held = read(cells, op.key);
      if (!held) return 0;
      write(cells, op.key, held.value, cells.now() + Math.max(1, Math.ceil(op.ttlMs)));
      return 1;
    }
    case 'delete':
      return cells.remove(op.key) ? 1 : 0;
    case 'clear': {
      let n = 0;
      for (const key of cells.keysWith(op.prefix)) if (cells.remove(key)) n++;
      return n;
    }
  }
}
