'use strict';
/**
 * Starts one variant's server process (bench/server.js) pinned to the server core, and talks
 * to it over IPC: `stats()` reads its CPU time, memory and origin calls; `stop()` ends it.
 * Every process started here is tracked so `stopAll()` can end them on SIGINT or errors.
 */

const { spawn } = require('node:child_process');
const path = require('node:path');
const { serverCommand } = require('./cpu');

const live = new Set();

/** `script`: the server program (bench/server.js; bench/realistic-app.js for the realistic workload). */
function startServer(variant, { env = {}, nodeArgs = [], lifetimeMs, readyTimeoutMs = 20_000, script = 'server.js' }) {
  const [cmd, args] = serverCommand(process.execPath, [...nodeArgs, path.join(__dirname, script), variant.name]);
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env, BENCH_LIFETIME_MS: String(lifetimeMs) },
  });
  live.add(child);
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );

  let nextId = 0;
  const pending = new Map();
  child.on('message', (msg) => {
    const waiter = pending.get(msg.id);
    if (waiter) {
      pending.delete(msg.id);
      waiter(msg);
    }
  });

  const stats = () =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${variant.name}: no stats answer`));
      }, 5000);
      pending.set(id, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      child.send({ type: 'stats', id });
    });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      if (child.connected) child.send({ type: 'stop' });
      const forced = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(forced);
    }
  };

  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${variant.name}: not ready after ${readyTimeoutMs} ms`)), readyTimeoutMs);
    child.on('message', (msg) => {
      if (msg.type === 'ready') {
        clearTimeout(timer);
        resolve(msg.port);
      } else if (msg.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`${variant.name}: failed to start: ${msg.reason}`));
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${variant.name}: exited before ready (code ${code}, signal ${signal})`));
    });
  });

  return ready.then(
    (port) => ({ port, stats, stop }),
    async (err) => {
      await stop();
      throw err;
    },
  );
}

/** Ends every server process still running (SIGINT, errors). */
function stopAll() {
  for (const child of live) child.kill('SIGKILL');
}

module.exports = { startServer, stopAll };
