'use strict';
/**
 * CPU pinning and machine facts. Servers (and redis-server) run on core 0, the load
 * generator (this process) on core 1, when taskset exists and there are two cores.
 */

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');

const SERVER_CORE = '0';
const CLIENT_CORE = '1';

function hasTaskset() {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const canPin = hasTaskset() && os.cpus().length >= 2;

/** [command, args] that runs `command args` pinned to the server core, when possible. */
function serverCommand(command, args) {
  return canPin ? ['taskset', ['-c', SERVER_CORE, command, ...args]] : [command, args];
}

/** Pins every thread of this process to the client core; answers a line for the report. */
function pinSelf() {
  if (!canPin) return 'not pinned (taskset missing or fewer than 2 cores)';
  execFileSync('taskset', ['-a', '-p', '-c', CLIENT_CORE, String(process.pid)], { stdio: 'ignore' });
  return `servers and redis-server on core ${SERVER_CORE}, load generator on core ${CLIENT_CORE} (taskset)`;
}

function cpuModel() {
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1].trim();
  } catch {
    // not Linux: fall through
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/**
 * CPU time (µs) the whole machine spent busy so far, from /proc/stat; undefined off Linux.
 * The runner subtracts its own and the server's share to show what other processes took.
 */
function machineBusyUs() {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    return ((user + nice + system + irq + softirq + (steal || 0)) * 1e6) / 100; // USER_HZ = 100
  } catch {
    return undefined;
  }
}

/**
 * Waits (at most `maxSeconds`) until other processes use less than `threshold` of a core
 * over a half-second sample, so a timed run does not start in the middle of someone's build.
 * Answers the seconds waited, or -1 when it gave up (the run goes ahead anyway).
 */
async function waitForQuiet(maxSeconds, threshold = 0.25) {
  if (!(maxSeconds > 0) || machineBusyUs() === undefined) return 0;
  const started = Date.now();
  for (;;) {
    const busy = machineBusyUs();
    const own = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 500));
    const ownUs = process.cpuUsage(own);
    const other = (machineBusyUs() - busy - ownUs.user - ownUs.system) / 500_000;
    const waited = (Date.now() - started) / 1000;
    if (other < threshold) return waited - 0.5;
    if (waited >= maxSeconds) return -1;
  }
}

module.exports = { canPin, serverCommand, pinSelf, cpuModel, machineBusyUs, waitForQuiet };
