'use strict';
/**
 * Run options, from flags (`--rounds=5`) or the environment (`BENCH_ROUNDS=5`); flags win.
 *
 *   BENCH_ROUNDS       interleaved rounds (A B C … A B C …), at least 3         default 3
 *   BENCH_DURATION     seconds of timed load per variant per round                default 5
 *   BENCH_EXTRA_DURATION  seconds of timed load for the size, compression and mixed
 *                      scenarios (many variants: keeps the full run under 12 minutes)  default 2
 *   BENCH_WARMUP       seconds of untimed load before each timed run              default 1
 *   BENCH_CONNECTIONS  autocannon connections                                     default 50
 *   BENCH_ONLY         comma-separated variant names; references are added        default all
 *   BENCH_QUIET        seconds to wait, before each timed run, for other processes
 *                      to use under 25 % of a core (0 = don't wait)              default 10
 *   BENCH_SOURCE       'dist' (built code, default) or 'src' (TS sources via tsx)
 *   BENCH_OUT          directory RESULTS.md and results.svg are written to       default bench/
 *                      (a partial run, with BENCH_ONLY or unavailable variants, writes to
 *                      bench/.tmp/ unless BENCH_OUT is given)
 *   BENCH_OURS_MODULE  a stand-in module for our middleware, to test the harness itself
 */

const path = require('node:path');

function readOption(name, argv, env) {
  const flag = `--${name.toLowerCase().replace(/_/g, '-')}=`;
  const hit = argv.find((a) => a.startsWith(flag));
  if (hit) return hit.slice(flag.length);
  return env[`BENCH_${name}`];
}

function number(name, raw, fallback, min) {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new TypeError(`bench: ${name} must be a number >= ${min}, got ${raw}`);
  return n;
}

function loadConfig(argv = process.argv.slice(2), env = process.env) {
  const rounds = number('BENCH_ROUNDS', readOption('ROUNDS', argv, env), 3, 3);
  if (!Number.isInteger(rounds)) throw new TypeError(`bench: BENCH_ROUNDS must be an integer, got ${rounds}`);
  const source = readOption('SOURCE', argv, env) || 'dist';
  if (source !== 'dist' && source !== 'src') throw new TypeError(`bench: BENCH_SOURCE must be dist or src, got ${source}`);
  const only = readOption('ONLY', argv, env);
  return Object.freeze({
    rounds,
    duration: number('BENCH_DURATION', readOption('DURATION', argv, env), 5, 1),
    extraDuration: number('BENCH_EXTRA_DURATION', readOption('EXTRA_DURATION', argv, env), 2, 1),
    warmup: number('BENCH_WARMUP', readOption('WARMUP', argv, env), 1, 0),
    quiet: number('BENCH_QUIET', readOption('QUIET', argv, env), 10, 0),
    connections: number('BENCH_CONNECTIONS', readOption('CONNECTIONS', argv, env), 50, 1),
    only: only
      ? only
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : undefined,
    source,
    outDir: path.resolve(readOption('OUT', argv, env) || __dirname),
  });
}

module.exports = { loadConfig };
