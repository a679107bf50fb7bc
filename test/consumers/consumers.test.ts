/**
 * The package as a new user gets it: the build assembled as the tarball's files (package.json
 * `files`) into node_modules of fresh consumer projects outside the repository, where
 * ioredis cannot be resolved, then compiled strictly (no skipLibCheck) and run:
 * TypeScript ESM (nodenext) on Express 5, CommonJS on Express 4 with a default import,
 * moduleResolution bundler under tsx, and storeContract() under `node --test`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const root = join(__dirname, '../..');
const modules = join(root, 'node_modules');
const tsc = join(modules, 'typescript/bin/tsc');
const tsx = join(modules, 'tsx/dist/cli.mjs');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[]; dependencies: Record<string, string> };
let build: string;
let work: string;

beforeAll(() => {
  // Built inside the repository (the build loads itself to list its exports), assembled outside it.
  build = mkdtempSync(join(root, '.build-test-'));
  execFileSync(process.execPath, [join(root, 'scripts/build.js'), '--out', join(build, 'dist')], { cwd: root, stdio: 'pipe' });
  work = mkdtempSync(join(tmpdir(), 'erc-consumers-'));
}, 120_000);
afterAll(() => {
  rmSync(build, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

/** A consumer project: the fixture's files, and a node_modules with the package and what it needs, but no ioredis. */
function project(fixture: string, express: 'express' | 'express4' = 'express'): string {
  const dir = join(work, fixture);
  cpSync(join(__dirname, 'fixtures', fixture), dir, { recursive: true });
  const nm = join(dir, 'node_modules');
  const own = join(nm, 'express-response-cache');
  mkdirSync(own, { recursive: true });
  cpSync(join(root, 'package.json'), join(own, 'package.json'));
  for (const file of pkg.files) {
    const from = file === 'dist' ? join(build, 'dist') : join(root, file);
    cpSync(from, join(own, file), { recursive: true });
  }
  const link = (name: string, target = name): void => {
    mkdirSync(dirname(join(nm, name)), { recursive: true });
    symlinkSync(join(modules, target), join(nm, name), 'dir');
  };
  for (const dep of Object.keys(pkg.dependencies)) link(dep);
  link('express', express);
  link('@types');
  link('prom-client');
  return dir;
}

function run(cwd: string, args: string[]): string {
  try {
    return execFileSync(process.execPath, args, { cwd, encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe('a fresh consumer project', () => {
  it('should not resolve ioredis (what the fixtures prove depends on it)', () => {
    const dir = project('esm-nodenext');
    expect(() => run(dir, ['-e', "require.resolve('ioredis')"])).toThrow(/Cannot find module 'ioredis'/);
  });

  it('should compile strictly and run the README as TypeScript ESM (nodenext) on Express 5', () => {
    const dir = join(work, 'esm-nodenext');
    if (!existsSync(join(dir, 'node_modules'))) project('esm-nodenext');
    run(dir, [tsc, '-p', 'tsconfig.json']);
    const out = JSON.parse(run(dir, ['out/app.mjs']));
    expect(out).toEqual({ xcache: ['MISS', 'HIT', 'MISS'], body: '{"id":"1","calls":1}', same: true, defaultImport: true, hits: 1, statsCache: 'BYPASS' });
  }, 60_000);

  it('should compile and run as CommonJS on Express 4 with a default import (no TS1192)', () => {
    const dir = project('cjs-express4', 'express4');
    run(dir, [tsc, '-p', 'tsconfig.json']);
    const out = JSON.parse(run(dir, ['out/app.js']));
    expect(out).toEqual({ xcache: ['MISS', 'HIT'], body: '{"calls":1}', removed: 1, same: true });
  }, 60_000);

  it('should compile with moduleResolution bundler and run under tsx', () => {
    const dir = project('bundler-tsx');
    run(dir, [tsc, '-p', 'tsconfig.json']);
    const out = JSON.parse(run(dir, [tsx, 'app.ts']));
    expect(out).toEqual({ xcache: 'HIT', hits: 1, defaultImport: 'function' });
  }, 60_000);

  it('should run storeContract() under node --test', () => {
    const dir = project('node-test');
    const out = run(dir, ['--test', '--test-reporter=tap', 'contract.test.mjs']);
    expect(out).toMatch(/# fail 0/);
    expect(Number(/# pass (\d+)/.exec(out)?.[1])).toBeGreaterThanOrEqual(15);
  }, 60_000);

  it('should ship no declaration that exposes internals, and only README-linked files', () => {
    const dir = join(work, 'node-test');
    const own = join(dir, 'node_modules/express-response-cache');
    const locals = readFileSync(join(own, 'dist/cjs/middleware/locals.d.ts'), 'utf8');
    expect(locals).not.toMatch(/skipped|ttlOverride|extraTags/);
    const index = readFileSync(join(own, 'dist/cjs/middleware/index.d.ts'), 'utf8') + readFileSync(join(own, 'dist/cjs/src/index.d.ts'), 'utf8');
    for (const name of ['encodeEntry', 'decodeEntry', 'canonicalQuery', 'resolveOptions', 'DEFAULTS', 'ResponseCache', 'Metrics']) {
      expect(index).not.toMatch(new RegExp(`[{,]\\s*(type )?${name}\\s*[,}]`));
    }
    // Relative links in the README must point at files the package ships.
    const readme = readFileSync(join(own, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\((?!https?:|#)([^)]+)\)/g)].map((m) => m[1]);
    for (const link of links) expect(existsSync(join(own, link))).toBe(true);
    writeFileSync(join(dir, 'done'), '');
  });
});
