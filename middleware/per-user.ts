/**
 * The per-user watch of a leader's miss: while the routes after the cache make the
 * response, notice a read of per-user request state: `req.session`, `req.user`,
 * `req.cookies`, `req.signedCookies`, `req.auth`, and the `Cookie` and `Authorization`
 * request headers (`req.get()` and `req.header()` read them through `req.headers`). An
 * answer made after such a read is not stored, unless the key varies on where it came from.
 *
 * Each watched name becomes an accessor on its object for the making: the getter notes the
 * read and answers what a plain read would (the value, or the original accessor's or the
 * prototype's), the setter keeps what is assigned (passport's `req.user = …`,
 * express-session's regenerate()). An accessor for an absent name is not enumerable until
 * something is assigned to it, so code that enumerates or copies req.headers sees what it
 * saw before. The capture quiets the watch while code that is not the routes' runs (its own
 * hooks, the response methods of middlewares mounted before the cache) and stops it when
 * end() is called (the body is complete); remove() puts every property back as it was, with
 * its current value. A name that cannot be watched (non-configurable, or an object that is
 * not extensible) counts as read: the cache cannot tell, so it does not store.
 * Only a leader's miss pays for this: a hit never sees this file.
 */

import type { IncomingHttpHeaders } from 'node:http';

/** Where a read's answer comes from: a key that varies on it stores per user. */
const COOKIE = 1;
const AUTHORIZATION = 2;

interface Name {
  readonly name: string;
  readonly label: string;
  /** What a Vary on Cookie (1) or Authorization (2) covers: one of these bits suffices. */
  readonly from: number;
}

const REQUEST_FIELDS: readonly Name[] = [
  { name: 'session', label: 'req.session', from: COOKIE },
  // passport: from a session cookie, or a bearer token
  { name: 'user', label: 'req.user', from: COOKIE | AUTHORIZATION },
  { name: 'cookies', label: 'req.cookies', from: COOKIE },
  { name: 'signedCookies', label: 'req.signedCookies', from: COOKIE },
  // express-jwt, express-basic-auth, express-oauth2-jwt-bearer
  { name: 'auth', label: 'req.auth', from: AUTHORIZATION },
];
const COOKIE_HEADER: Name = { name: 'cookie', label: 'the Cookie header', from: COOKIE };
const AUTHORIZATION_HEADER: Name = { name: 'authorization', label: 'the Authorization header', from: AUTHORIZATION };

interface Watched {
  readonly watch: PerUserWatch;
  readonly target: object;
  readonly what: Name;
  /** The property as it was (own), or undefined when it was not an own property. */
  readonly own: PropertyDescriptor | undefined;
  /** The original accessor (own or inherited) that reads and writes go on to, if there was one. */
  readonly accessor: PropertyDescriptor | undefined;
  value: unknown;
  assigned: boolean;
  enumerable: boolean;
}

/**
 * The watches running, by the object whose properties they watch (a request, its headers).
 * The accessors are the same functions for every request (one pair per name): an accessor
 * pair new on every request would make V8 give each request object a dictionary of its own
 * (a map transition to a different accessor normalises the object), and every later
 * property access on it slow.
 */
const WATCHED = new WeakMap<object, Map<string, Watched>>();

function watchedOf(receiver: object, name: string): Watched | undefined {
  // The receiver may inherit from the watched object (Object.create(req)).
  for (let o: object | null = receiver; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const w = WATCHED.get(o)?.get(name);
    if (w) return w;
  }
  return undefined;
}

const ACCESSORS = new Map<string, { get(this: object): unknown; set(this: object, value: unknown): void }>();
for (const what of [...REQUEST_FIELDS, COOKIE_HEADER, AUTHORIZATION_HEADER]) {
  const name = what.name;
  ACCESSORS.set(name, {
    get(this: object): unknown {
      const w = watchedOf(this, name);
      if (!w) return undefined;
      w.watch.note(what);
      return w.accessor ? (w.accessor.get?.call(this) as unknown) : w.value;
    },
    set(this: object, value: unknown): void {
      const w = watchedOf(this, name);
      if (!w) return;
      if (w.accessor) return void w.accessor.set?.call(this, value);
      w.value = value;
      w.assigned = true;
      // Assigned now: a plain assignment would make it enumerable (req.headers spreads see it).
      if (!w.enumerable) {
        w.enumerable = true;
        Object.defineProperty(w.target, name, { enumerable: true });
      }
    },
  });
}

export interface WatchScope {
  readonly shared: boolean;
  readonly key: unknown;
  readonly vary: readonly string[];
  readonly shareAuthorized: boolean;
}

export class PerUserWatch {
  /** What was read (or could not be watched), once each, in order. */
  private readonly seen: Name[] = [];
  /** The first read came before Express dispatched to a route: a middleware mounted between the cache and the route made it. */
  private outsideRoute = false;
  private noting = true;
  /** Depth of code running that is not the routes' (the capture's hooks, earlier response methods). */
  private quietDepth = 0;
  private readonly watched: Watched[] = [];

  /**
   * The watch for a miss, or undefined when reads cannot matter: a route that says its answer
   * is shared, or keys on the user (its own key, or a vary on both sources).
   */
  static start(req: object, headers: IncomingHttpHeaders, scope: WatchScope): PerUserWatch | undefined {
    if (scope.shared || scope.key !== undefined || (scope.vary.includes('cookie') && scope.vary.includes('authorization'))) return undefined;
    return new PerUserWatch(req, headers, scope.shareAuthorized);
  }

  private constructor(
    private readonly req: object,
    headers: IncomingHttpHeaders,
    shareAuthorized: boolean,
  ) {
    for (const what of REQUEST_FIELDS) this.watch(req, what);
    this.watch(headers, COOKIE_HEADER);
    // Without shareAuthorized a request with Authorization never reaches the cache (RFC 9111
    // §3.5): an answer made without one, which read its absence, is everyone's who may get it.
    if (shareAuthorized) this.watch(headers, AUTHORIZATION_HEADER);
  }

  /** Code other than the routes' starts (true) or ends (false): its reads do not count. */
  quiet(on: boolean): void {
    this.quietDepth += on ? 1 : -1;
  }

  /** The body is complete: nothing read from now on made it. */
  stop(): void {
    this.noting = false;
  }

  /**
   * What was read that the key does not vary on (the route's `vary` names, the response's
   * Vary header names), for the debug line; undefined when nothing was.
   */
  uncovered(routeVary: readonly string[], responseVary: readonly string[]): string | undefined {
    if (this.seen.length === 0) return undefined;
    const on = (name: string) => routeVary.includes(name) || responseVary.includes(name);
    const covers = (on('cookie') ? COOKIE : 0) | (on('authorization') ? AUTHORIZATION : 0);
    const left = this.seen.filter((w) => (w.from & covers) === 0);
    return left.length === 0 ? undefined : left.map((w) => w.label).join(', ');
  }

  /** Was anything read (or not watchable)? */
  get anyRead(): boolean {
    return this.seen.length !== 0;
  }

  /** Was the first read made by a middleware mounted between the cache and the route (app.use), not by the route? */
  get readBeforeRoute(): boolean {
    return this.outsideRoute && (this.req as { route?: unknown }).route !== undefined;
  }

  /** Every watched property as it was, with its current value. Idempotent. */
  remove(): void {
    this.noting = false;
    const watched = this.watched;
    for (let i = watched.length - 1; i >= 0; i--) restore(watched[i]);
    watched.length = 0;
  }

  /** A watched name was read (from the shared accessors). */
  note(what: Name): void {
    if (!this.noting || this.quietDepth !== 0 || this.seen.includes(what)) return;
    // Express sets req.route when it dispatches to a route's handlers (Express 4 and 5).
    if (this.seen.length === 0) this.outsideRoute = (this.req as { route?: unknown }).route === undefined;
    this.seen.push(what);
  }

  private watch(target: object, what: Name): void {
    const name = what.name;
    let map = WATCHED.get(target);
    // Another making watches it already (a nested middleware before it stood aside): theirs.
    if (map?.has(name)) return;
    const own = Object.getOwnPropertyDescriptor(target, name);
    if (own ? !own.configurable : !Object.isExtensible(target)) {
      // A read could not be seen: the answer may be anyone's.
      this.seen.push(unwatchable(what));
      return;
    }
    // What a plain read finds: the own property, else the prototype chain's.
    const found = own ?? inherited(target, name);
    const accessor = found !== undefined && !('value' in found) ? found : undefined;
    const w: Watched = {
      watch: this,
      target,
      what,
      own,
      accessor,
      value: found?.value,
      assigned: false,
      enumerable: own ? own.enumerable === true : false,
    };
    const shared = ACCESSORS.get(name)!;
    // Assignments fail as they did: a getter without a setter, a read-only value.
    const settable = accessor ? accessor.set !== undefined : !found || found.writable === true;
    if (!map) WATCHED.set(target, (map = new Map<string, Watched>()));
    map.set(name, w);
    try {
      Object.defineProperty(target, name, { get: shared.get, set: settable ? shared.set : undefined, enumerable: w.enumerable, configurable: true });
    } catch {
      map.delete(name);
      this.seen.push(unwatchable(what));
      return;
    }
    this.watched.push(w);
  }
}

/** The property as it was, with its current value; left alone when someone else redefined or deleted it meanwhile. */
function restore(w: Watched): void {
  const { target, own } = w;
  const name = w.what.name;
  const map = WATCHED.get(target);
  if (map?.get(name) === w) {
    map.delete(name);
    if (map.size === 0) WATCHED.delete(target);
  }
  if (Object.getOwnPropertyDescriptor(target, name)?.get !== ACCESSORS.get(name)!.get) return;
  try {
    if (own && !('value' in own)) Object.defineProperty(target, name, own);
    else if (own || w.assigned)
      Object.defineProperty(target, name, { value: w.value, writable: own ? own.writable === true : true, enumerable: w.enumerable, configurable: true });
    else delete (target as Record<string, unknown>)[name];
  } catch {
    // Frozen meanwhile: the accessor stays and still answers the current value.
  }
}

function unwatchable(what: Name): Name {
  return { ...what, label: `${what.label} (could not be watched)` };
}

function inherited(target: object, name: string): PropertyDescriptor | undefined {
  for (let o = Object.getPrototypeOf(target) as object | null; o !== null; o = Object.getPrototypeOf(o) as object | null) {
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d) return d;
  }
  return undefined;
}

const warned = new WeakMap<object, Set<string>>();

/**
 * console.warn once per route and cache: a middleware mounted between the cache and the
 * route reads per-user state on every request, so nothing of this route is ever stored.
 */
export function warnBetween(cache: object, route: string, read: string): void {
  let routes = warned.get(cache);
  if (!routes) warned.set(cache, (routes = new Set()));
  if (routes.has(route) || routes.size >= 1000) return;
  routes.add(route);
  console.warn(
    `express-response-cache: a middleware mounted between the cache and ${route} reads ${read}, so no answer of that route is stored; ` +
      'mount it before the cache, or give the route `shared: true` if its answer is the same for everyone',
  );
}
