'use strict';
/**
 * The load generator: autocannon's programmatic API, in this (the runner's) process.
 * A `unique` variant gets a new query value on every request, so every request is a new key.
 * Latencies are recorded here from every response (autocannon's own histogram keeps whole
 * milliseconds and only 2xx), so p50/p99 keep sub-millisecond resolution and 304s count.
 * Also measures this process's CPU use, to show when the generator itself is the limit.
 */

const autocannon = require('autocannon');
const { PATH } = require('./payload');
const { Samples } = require('./samples');

let sequence = 0; // never reset: a timed run must not reuse the warm-up's keys

/**
 * `unique`: a new key per request; `keys`: cycle over that many item URLs (`/items/0…`,
 * the mixed scenario's readers); otherwise the one benchmark URL.
 */
async function runLoad({ port, headers = {}, unique = false, keys = 0, duration, connections }) {
  const request = unique
    ? { method: 'GET', path: PATH, setupRequest: (req) => ({ ...req, path: `${PATH}&n=${++sequence}` }) }
    : keys > 0
      ? { method: 'GET', path: PATH, setupRequest: (req) => ({ ...req, path: `/items/${++sequence % keys}?page=1&sort=asc` }) }
      : { method: 'GET', path: PATH };
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const latencies = new Samples();
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration,
    headers,
    requests: [request],
    timeout: 10,
  });
  instance.on('response', (client, status, bytes, ms) => latencies.push(ms));
  const result = await instance;
  const wallUs = Number(process.hrtime.bigint() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const requests = result.requests.total;
  return {
    requests,
    rps: requests / result.duration,
    p50: latencies.percentile(50),
    p99: latencies.percentile(99),
    statuses: { '2xx': result['2xx'], '3xx': result['3xx'], other: result['1xx'] + result['4xx'] + result['5xx'] },
    errors: result.errors + result.timeouts,
    wallUs,
    clientCpuUs: used.user + used.system,
    clientCpu: (used.user + used.system) / wallUs,
  };
}

module.exports = { runLoad };
