/**
 * Virtual users: each one sends one request at a time (so every GET after an ack was sent
 * after it), to either instance at random, with its own cookie and sometimes its own
 * Authorization, mixing reads and writes. Every answer goes to the oracle.
 */

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { Acks, type Got, type Oracle, type Sent } from './oracle';

export interface Target {
  readonly name: string;
  readonly url: string;
  /** Invalidations this instance keeps for a store it could not reach (retried until applied). */
  readonly kept: () => number;
}

export interface Traffic {
  readonly targets: readonly Target[];
  readonly oracle: Oracle;
  /** Rows GET /rows/:id and PUT pick from (1..rows): few enough to be hot. */
  readonly rows: number;
  /** List pages GET /rows?page=N picks from (1..pages). */
  readonly pages: number;
  /** ms since the run started. */
  readonly now: () => number;
  /** The faults active right now, e.g. 'none', 'paused', 'killed+latency'. */
  readonly faults: () => string;
  /** Stop sending when this returns true. */
  readonly done: () => boolean;
  /** Pause between a user's requests, ms (min, max). */
  readonly thinkMs: readonly [number, number];
}

const HOSTS = ['shop.example', 'evil.example'];
/** Per-user answers that do not say so: a session, cookies, Authorization (shareAuthorized). */
const WHOAMI = ['/whoami/session', '/whoami/cookies', '/whoami/auth'];
/** X-Forwarded-Proto values (trust proxy): none, the usual two, and a hostile one. */
const SCHEMES = [undefined, 'https', 'http', 'javascript:alert(1)//'];
/** One route's request-target spellings: origin form, absolute form, a fragment (RFC 9112 §3.2). */
const TARGETS = ['/reflect', '/reflect?q=1', 'http://evil.example/reflect', 'http://shop.example/reflect?q=1', '/reflect#"><svg/onload=alert(1)>'];
const REQUEST_TIMEOUT_MS = 10_000;

/** One request; resolves (never rejects) with what came back or the error's code. */
function send(agent: http.Agent, url: string, method: string, path: string, headers: Record<string, string>): Promise<Got> {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (got: Omit<Got, 'ms'>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...got, ms: performance.now() - started });
    };
    const req = http.request({ host: hostname, port, method, path, headers, agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err: NodeJS.ErrnoException) => done({ status: 0, body: '', xCache: '', error: err.code ?? err.message }));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), xCache: String(res.headers['x-cache'] ?? '') }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => done({ status: 0, body: '', xCache: '', error: err.code ?? err.message }));
    req.end();
  });
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)];
const between = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1));

/** What a user does next, weighted: mostly reads of hot rows, some writes. */
function nextRequest(user: string, t: Traffic): { method: string; path: string; headers: Record<string, string> } {
  const headers: Record<string, string> = { cookie: `sid=${user}; theme=dark` };
  const roll = Math.random();
  if (roll < 0.4) return { method: 'GET', path: `/rows/${between(1, t.rows)}`, headers };
  if (roll < 0.55) return { method: 'GET', path: `/rows?page=${between(1, t.pages)}`, headers };
  if (roll < 0.67) return { method: 'PUT', path: `/rows/${between(1, t.rows)}`, headers };
  if (roll < 0.7) return { method: 'POST', path: '/rows', headers };
  if (roll < 0.8) {
    // Half of them identify by Authorization (the cache must bypass), half by cookie only.
    if (Math.random() < 0.5) headers.authorization = `Bearer ${user}`;
    return { method: 'GET', path: '/me', headers };
  }
  if (roll < 0.84) return { method: 'GET', path: '/me/vary', headers };
  if (roll < 0.88) return { method: 'GET', path: '/host', headers: { ...headers, host: pick(HOSTS) } };
  if (roll < 0.93) {
    const route = pick(WHOAMI);
    if (route === '/whoami/auth') headers.authorization = `Bearer ${user}`;
    return { method: 'GET', path: route, headers };
  }
  if (roll < 0.97) {
    const proto = pick(SCHEMES);
    return { method: 'GET', path: '/scheme', headers: proto === undefined ? headers : { ...headers, 'x-forwarded-proto': proto } };
  }
  return { method: 'GET', path: pick(TARGETS), headers };
}

/** One virtual user until `t.done()`; its own keep-alive connections. */
export async function virtualUser(user: string, t: Traffic): Promise<void> {
  const keeps = (writer: string): boolean => (t.targets.find((x) => x.name === writer)?.kept() ?? 0) > 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const own = new Acks();
  try {
    while (!t.done()) {
      const target = pick(t.targets);
      const { method, path, headers } = nextRequest(user, t);
      const sent: Sent = { user, instance: target.name, method, path, headers, at: t.now(), faults: t.faults() };
      // The acks as they are now: only writes acknowledged before this request was sent count.
      const mine = own.snapshot(target.name, keeps);
      const everyone = t.oracle.global.snapshot(target.name, keeps);
      const got = await send(agent, target.url, method, path, headers);
      t.oracle.check(sent, got, mine, everyone);
      if (got.status === 200 && (method === 'PUT' || method === 'POST')) learn(got.body, target, t.now(), own, t.oracle.global);
      await new Promise((r) => setTimeout(r, between(t.thinkMs[0], t.thinkMs[1])));
    }
  } finally {
    agent.destroy();
  }
}

/**
 * A write's 200 says the new version (and, for POST, the new row count): remember it, held
 * while the writer keeps an invalidation it could not apply (see Acks).
 */
function learn(body: string, writer: Target, at: number, own: Acks, global: Acks): void {
  let parsed: { id?: number; version?: number; total?: number };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return; // counted as bad-body by the oracle already
  }
  const ack = {
    id: typeof parsed.id === 'number' && typeof parsed.version === 'number' ? parsed.id : undefined,
    version: typeof parsed.version === 'number' ? parsed.version : undefined,
    total: typeof parsed.total === 'number' ? parsed.total : undefined,
    instance: writer.name,
    at,
  };
  const held = writer.kept() > 0;
  own.record(ack, held);
  global.record(ack, held);
}
