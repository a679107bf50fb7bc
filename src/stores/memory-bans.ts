/**
 * Bans for the MemoryStore (ARCHITECTURE.md, "Invalidation at scale: bans"): a path, prefix
 * or tag invalidation too large to run in one go becomes a ban, in place before the call
 * returns. Every slot carries the store's write sequence; a ban has the sequence at which
 * it was made, and bans every slot written before it that it matches. A read of such a slot
 * is a miss (the slot is dropped there and then); a background walk (the lurker) removes
 * the rest, at most `TURN` slots per event-loop turn, so no request waits behind it. The
 * ban's promise resolves the exact count once the walk is done: live entries written
 * before the ban that it removed, or that a read dropped because of it.
 */

/** Most slots a walk handles before it yields the event loop (`setImmediate`). */
export const TURN = 1000;
/** Indexes up to this many members are invalidated at once, as before bans. */
export const EAGER_LIMIT = 1000;

/** The slots filed under one name: one slot, or a set of them (MemoryStore's `Filed`). */
export type Filed = number | ReadonlySet<number>;

/** What a ban needs of the store, by slot. */
export interface BanHost {
  /** The store's write sequence when `slot` was last written. */
  writtenAt(slot: number): number;
  pathOf(slot: number): string | undefined;
  hasTag(slot: number, tag: string): boolean;
  byPath(path: string): Filed | undefined;
  byTag(tag: string): Filed | undefined;
  /** Every path filed now, lazily (a Map iterator: removals during the walk are safe). */
  paths(): IterableIterator<[string, Filed]>;
  /** Remove the slot; true when it held a live entry. */
  remove(slot: number): boolean;
  /** Count one entry removed in the background (the store's metric). */
  removedInBackground(n: number): void;
}

export type BanTarget = { readonly kind: 'path' | 'prefix'; readonly name: string } | { readonly kind: 'tags'; readonly names: readonly string[] };

interface Ban {
  readonly seq: number;
  readonly target: BanTarget;
  removed: number;
  over: boolean;
  finish: (n: number) => void;
}

export class MemoryBans {
  /** Active bans, oldest first (ascending seq). */
  private active: Ban[] = [];

  constructor(private readonly host: BanHost) {}

  get size(): number {
    return this.active.length;
  }

  /**
   * Ban what `target` names as of `seq` (the store's sequence, taken for this ban) and
   * start the walk; resolves the exact count when it ends.
   */
  ban(seq: number, target: BanTarget): Promise<number> {
    let finish!: (n: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));
    const ban: Ban = { seq, target, removed: 0, over: false, finish };
    this.active.push(ban);
    setImmediate(() => void this.walk(ban));
    return done;
  }

  /**
   * Is `slot` banned? Called by reads only while a ban is active. Newest ban first: a slot
   * written after a ban is not banned by it nor by any older one, so the loop stops there.
   * A banned slot is removed, and counted for the ban that matched it.
   */
  banned(slot: number): boolean {
    const written = this.host.writtenAt(slot);
    for (let i = this.active.length - 1; i >= 0; i--) {
      const ban = this.active[i];
      if (ban.seq < written) return false;
      if (this.matches(ban.target, slot)) {
        if (this.host.remove(slot)) ban.removed++;
        return true;
      }
    }
    return false;
  }

  /** Every entry is gone (clear, close): the bans resolve what they removed, their walks end. */
  retireAll(): void {
    for (const ban of this.active) this.retire(ban);
  }

  private matches(target: BanTarget, slot: number): boolean {
    if (target.kind === 'tags') {
      for (const t of target.names) if (this.host.hasTag(slot, t)) return true;
      return false;
    }
    const path = this.host.pathOf(slot);
    if (path === undefined) return false;
    return target.kind === 'path' ? path === target.name : path.startsWith(target.name);
  }

  private async walk(ban: Ban): Promise<void> {
    let budget = TURN;
    // Yields between turns; true when the ban was retired meanwhile (clear, close).
    const spend = async (n: number): Promise<boolean> => {
      budget -= n;
      if (budget > 0) return ban.over;
      budget = TURN;
      await new Promise((r) => setImmediate(r));
      return ban.over;
    };
    const visit = async (filed: Filed | undefined): Promise<boolean> => {
      if (filed === undefined) return ban.over;
      if (typeof filed === 'number') return this.take(ban, filed) || (await spend(1));
      // A Set's iterator survives deletions (of the slot just visited, too); slots added
      // after the ban were written after it and are skipped by their sequence.
      for (const slot of filed) {
        this.take(ban, slot);
        if (await spend(1)) return true;
      }
      return ban.over;
    };
    const t = ban.target;
    if (t.kind === 'tags') {
      for (const name of t.names) if (await visit(this.host.byTag(name))) return;
    } else if (t.kind === 'path') {
      if (await visit(this.host.byPath(t.name))) return;
    } else {
      for (const [path, filed] of this.host.paths()) {
        if (path.startsWith(t.name) && (await visit(filed))) return;
        if (await spend(1)) return;
      }
    }
    this.retire(ban);
  }

  /** Remove `slot` if it was written before the ban (a slot reused since is newer). Never stops the walk. */
  private take(ban: Ban, slot: number): false {
    if (this.host.writtenAt(slot) < ban.seq && this.host.remove(slot)) {
      ban.removed++;
      this.host.removedInBackground(1);
    }
    return false;
  }

  private retire(ban: Ban): void {
    if (ban.over) return;
    ban.over = true;
    this.active = this.active.filter((b) => b !== ban);
    ban.finish(ban.removed);
  }
}
