'use strict';
/**
 * A load generator that does not parse bodies (issue 24): keep-alive sockets, one request
 * in flight each, reading only the status line and the headers, then skipping the body by
 * its Content-Length (or its chunk sizes) without copying it. autocannon spent 98 % of its
 * core on 1 MB bodies (65 req/s): this one lets the 64 KB and 1 MB scenarios measure the
 * server. Same arguments and result as load.js's runLoad; the checks before timing
 * (check.js) still compare every byte.
 */

const net = require('node:net');
const { PATH } = require('./payload');
const { Samples } = require('./samples');

let sequence = 0; // never reset: a timed run must not reuse the warm-up's keys

const CRLF2 = Buffer.from('\r\n\r\n');

/** One connection's response parser: feed(chunk) calls onResponse(status) per complete response. */
function responseParser(onResponse, onError) {
  let head = Buffer.alloc(0);
  let remaining = -1; // body bytes still to skip; -1 = reading the head
  let chunked = false;
  let chunkState = 'size'; // 'size' | 'data' | 'crlf' | 'trailer'
  let line = '';
  let status = 0;
  const finish = () => {
    remaining = -1;
    chunked = false;
    onResponse(status);
  };
  return function feed(buf) {
    let i = 0;
    while (i < buf.length) {
      if (remaining < 0 && !chunked) {
        head = head.length ? Buffer.concat([head, buf.subarray(i)]) : buf.subarray(i);
        const end = head.indexOf(CRLF2);
        if (end < 0) {
          if (head.length > 65536) return onError(new Error('response head over 64 KB'));
          head = Buffer.from(head); // keep a copy, not a view of a reused buffer
          return;
        }
        const text = head.toString('latin1', 0, end);
        const consumed = end + 4 - (head.length - (buf.length - i));
        head = Buffer.alloc(0);
        i += consumed;
        status = Number(text.slice(9, 12));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(text)) {
          chunked = true;
          chunkState = 'size';
          line = '';
        } else if (status === 304 || status === 204 || !length) {
          finish();
        } else {
          remaining = Number(length[1]);
          if (remaining === 0) finish();
        }
      } else if (!chunked) {
        const take = Math.min(remaining, buf.length - i);
        remaining -= take;
        i += take;
        if (remaining === 0) finish();
      } else if (chunkState === 'data') {
        const take = Math.min(remaining, buf.length - i);
        remaining -= take;
        i += take;
        if (remaining === 0) chunkState = 'crlf';
      } else {
        const nl = buf.indexOf(10, i);
        if (nl < 0) {
          line += buf.toString('latin1', i);
          return;
        }
        line += buf.toString('latin1', i, nl);
        i = nl + 1;
        const text = line.trim();
        line = '';
        if (chunkState === 'crlf') chunkState = 'size';
        else if (chunkState === 'size') {
          const size = parseInt(text, 16);
          if (size > 0) {
            remaining = size;
            chunkState = 'data';
          } else chunkState = 'trailer';
        } else if (text === '') finish(); // the empty line after the last chunk (and any trailers)
      }
    }
  };
}

/**
 * `unique`: a new key per request; `keys`: cycle over that many item URLs; otherwise the one
 * benchmark URL. Resolves what load.js's runLoad resolves.
 */
async function runRawLoad({ port, headers = {}, unique = false, keys = 0, duration, connections }) {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const pathOf = unique ? () => `${PATH}&n=${++sequence}` : keys > 0 ? () => `/items/${++sequence % keys}?page=1&sort=asc` : () => PATH;
  const statuses = { '2xx': 0, '3xx': 0, other: 0 };
  let errors = 0;
  let requests = 0;
  const latencies = new Samples();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const deadline = Date.now() + duration * 1000;

  const connection = () =>
    new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.setNoDelay(true);
      let sentAt = 0n;
      const send = () => {
        if (Date.now() >= deadline) {
          sock.end();
          return resolve();
        }
        sentAt = process.hrtime.bigint();
        sock.write(`GET ${pathOf()} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n${extra}\r\n`);
      };
      const feed = responseParser(
        (status) => {
          latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
          requests++;
          if (status >= 200 && status < 300) statuses['2xx']++;
          else if (status >= 300 && status < 400) statuses['3xx']++;
          else statuses.other++;
          send();
        },
        () => {
          errors++;
          sock.destroy();
        },
      );
      sock.on('connect', send);
      sock.on('data', feed);
      sock.setTimeout(10_000, () => {
        errors++;
        sock.destroy();
      });
      sock.on('error', () => errors++);
      sock.on('close', () => resolve());
    });

  await Promise.all(Array.from({ length: connections }, connection));
  const wallUs = Number(process.hrtime.bigint() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    requests,
    rps: requests / (wallUs / 1e6),
    p50: latencies.percentile(50),
    p99: latencies.percentile(99),
    statuses,
    errors,
    wallUs,
    clientCpuUs: used.user + used.system,
    clientCpu: (used.user + used.system) / wallUs,
  };
}

module.exports = { runRawLoad, responseParser };
