'use strict';
/**
 * One throwaway redis-server for the Redis variants: a free 127.0.0.1 port, no persistence,
 * pinned with the servers. A small shell watchdog stops it when this process dies or after
 * `maxSeconds`, so it never outlives the run even if the runner is killed with SIGKILL.
 */

const { spawn } = require('node:child_process');
const net = require('node:net');
const { serverCommand } = require('./cpu');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Sends one inline command; resolves a status reply ('+PONG', '+OK') or a bulk string's text. */
function command(port, line, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => sock.destroy(new Error(`redis ${line}: timed out`)), timeoutMs);
    let data = Buffer.alloc(0);
    const done = (value) => {
      clearTimeout(timer);
      sock.end();
      resolve(value);
    };
    sock.on('connect', () => sock.write(`${line}\r\n`));
    sock.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const eol = data.indexOf('\r\n');
      if (eol < 0) return;
      const first = data.toString('latin1', 0, eol);
      if (first[0] !== '$') return done(first);
      const length = Number(first.slice(1));
      if (data.length >= eol + 2 + length) done(data.toString('utf8', eol + 2, eol + 2 + length));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** CPU time redis-server has used so far, in µs (INFO cpu). */
async function redisCpuUs(port) {
  const info = await command(port, 'INFO cpu');
  const field = (name) => Number((info.match(new RegExp(`^${name}:([0-9.]+)`, 'm')) || [])[1]);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

const quote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

async function startRedis({ bin = 'redis-server', maxSeconds, extraArgs = [] }) {
  const port = await freePort();
  const [cmd, args] = serverCommand(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs]);
  const script = [
    `${[cmd, ...args].map(quote).join(' ')} >/dev/null & r=$!`,
    `trap 'kill $r 2>/dev/null; wait $r; exit 0' TERM INT`,
    `end=$(( $(date +%s) + ${Math.ceil(maxSeconds)} ))`,
    `while kill -0 ${process.pid} 2>/dev/null && kill -0 $r 2>/dev/null && [ $(date +%s) -lt $end ]; do sleep 0.5; done`,
    'kill $r 2>/dev/null; wait $r',
  ].join('\n');
  const child = spawn('sh', ['-c', script], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr = (stderr + c).slice(-2000);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, 'SIGTERM'); // the watchdog shell and redis-server, one process group
    } catch {
      // already gone
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };

  for (let i = 0; i < 100; i++) {
    try {
      if ((await command(port, 'PING')) === '+PONG') return { url: `redis://127.0.0.1:${port}`, port, stop };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`redis-server (${bin}) did not answer PING on port ${port}: ${stderr.trim()}`);
}

module.exports = { startRedis, command, redisCpuUs };
