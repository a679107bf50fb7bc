#!/usr/bin/env node
'use strict';
/**
 * `npm test`'s pretest step (and CI's): the Redis tests need a real redis-server and
 * redis-cli. When both are on PATH this does nothing (a PATH lookup, no child process).
 * Otherwise, as root with apt-get, it installs Debian's redis-server (which brings
 * redis-cli); else it says what is missing and fails.
 */

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function which(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function missing() {
  return ['redis-server', 'redis-cli'].filter((name) => !which(name));
}

function fail(message) {
  process.stderr.write(`ensure-redis: ${message}\n`);
  process.exit(1);
}

function apt(args) {
  process.stdout.write(`ensure-redis: apt-get ${args.join(' ')}\n`);
  const result = spawnSync('apt-get', args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) fail(`apt-get ${args[0]} could not run: ${result.error.message}`);
  if (result.status !== 0) fail(`apt-get ${args.join(' ')} exited with ${result.status}`);
}

const before = missing();
if (before.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const NEED = 'The Redis tests need redis-server and redis-cli on PATH (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).';
if (!isRoot || !which('apt-get')) {
  fail(`${before.join(' and ')} not found. ${NEED}`);
}

apt(['update']);
apt(['install', '-y', '--no-install-recommends', 'redis-server']);

const after = missing();
if (after.length > 0) fail(`${after.join(' and ')} still not found after apt-get install redis-server. ${NEED}`);
process.stdout.write('ensure-redis: redis-server installed\n');
