/**
 * Hold a response at header time until some work is done, then send it as written. Used to
 * invalidate *before* a mutating route's answer reaches the client (read-your-writes).
 * Calls are queued with their arguments and replayed in order, callbacks included.
 */

import type { ServerResponse } from 'node:http';

type Call = ['writeHead' | 'write' | 'end', unknown[]];

/** `work(status)` runs once at header time; a promise it returns holds the output until it settles. */
export function holdUntil(res: ServerResponse, work: (status: number) => Promise<unknown> | undefined): void {
  const original = { writeHead: res.writeHead, write: res.write, end: res.end };
  let started = false;
  let queue: Call[] | undefined;

  const gate = (name: Call[0], args: unknown[]): unknown => {
    if (!started) {
      started = true;
      const status = name === 'writeHead' && typeof args[0] === 'number' ? args[0] : res.statusCode;
      const pending = work(status);
      if (pending) {
        queue = [];
        pending.then(flush, flush);
      } else restore();
    }
    if (queue) {
      queue.push([name, args]);
      return name === 'write' ? true : res;
    }
    return (original[name] as (...a: unknown[]) => unknown).apply(res, args);
  };

  const restore = (): void => {
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
  };

  const flush = (): void => {
    const calls = queue ?? [];
    queue = undefined;
    restore();
    for (const [name, args] of calls) (original[name] as (...a: unknown[]) => unknown).apply(res, args);
  };

  res.writeHead = function (...args: unknown[]) {
    return gate('writeHead', args);
  } as ServerResponse['writeHead'];
  res.write = function (...args: unknown[]) {
    return gate('write', args);
  } as ServerResponse['write'];
  res.end = function (...args: unknown[]) {
    return gate('end', args);
  } as ServerResponse['end'];
}
