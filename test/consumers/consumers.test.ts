/**
 * The package as a new user gets it: the tarball `npm pack` makes (package.json `files`,
 * the `prepack` build) unpacked into node_modules of fresh consumer projects outside the repository, where
 * ioredis cannot be resolved, then compiled strictly (no skipLibCheck) and run:
 * TypeScript ESM (nodenext) on Express 5, CommonJS on Express 4 with a default import,
 * moduleResolution bundler under tsx, and storeContract() under `node --test`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { tsSnippets } from '../docs/markdown';

const root = join(__dirname, '../..');
const modules = join(root, 'node_modules');
const tsc = join(modules, 'typescript/bin/tsc');
const tsx = join(modules, 'tsx/dist/cli.mjs');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[]; dependencies: Record<string, string> };
let build: string;
let work: string;
let tarball: string;
let packed: string[];

beforeAll(() => {
  // Built inside the repository (the build loads itself to list its exports), packed by npm
  // from a copy of the package's files (so the repository's own dist/ is left alone), and
  // unpacked outside it. The copy runs the real `prepack` script: what `npm publish` runs.
  build = mkdtempSync(join(root, '.build-test-'));
  cpSync(join(root, 'package.json'), join(build, 'package.json'));
  for (const file of [...pkg.files, 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'src', 'middleware']) {
    if (file !== 'dist' && existsSync(join(root, file))) cpSync(join(root, file), join(build, file), { recursive: true });
  }
  symlinkSync(modules, join(build, 'node_modules'), 'dir');
  work = mkdtempSync(join(tmpdir(), 'erc-consumers-'));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: build, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // All of stdout: a tool reading `npm pack --json` gets JSON, the prepack build's report goes to stderr.
  const info = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, info[0].filename);
  packed = info[0].files.map((f) => f.path).sort();
}, 180_000);
afterAll(() => {
  rmSync(build, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

/** A consumer project: the fixture's files, and a node_modules with the package and what it needs, but no ioredis. */
function project(fixture: string, express: 'express' | 'express4' = 'express', extra: string[] = []): string {
  const dir = join(work, fixture);
  cpSync(join(__dirname, 'fixtures', fixture), dir, { recursive: true });
  const nm = join(dir, 'node_modules');
  const own = join(nm, 'express-response-cache');
  mkdirSync(own, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', own, '--strip-components=1']);
  const link = (name: string, target = name): void => {
    mkdirSync(dirname(join(nm, name)), { recursive: true });
    symlinkSync(join(modules, target), join(nm, name), 'dir');
  };
  for (const dep of Object.keys(pkg.dependencies)) link(dep);
  link('express', express);
  link('@types');
  link('prom-client');
  for (const dep of extra) link(dep);
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

describe('the packed tarball', () => {
  it('should ship the build (prepack), no source maps pointing at unshipped sources, and the docs', () => {
    for (const file of [
      'package.json',
      'README.md',
      'CHANGELOG.md',
      'dist/esm/index.mjs',
      'dist/esm/index.d.mts',
      'dist/cjs/middleware/index.js',
      'dist/cjs/middleware/index.d.ts',
    ]) {
      expect(packed).toContain(file);
    }
    // Decided: no maps. The build is tsc output, readable as it is; maps would point at src/.
    expect(packed.filter((f) => f.endsWith('.map') || /^(src|middleware|test|scripts)\//.test(f))).toEqual([]);
    expect(packed.some((f) => f.startsWith('docs/'))).toBe(existsSync(join(root, 'docs')));
  });

  it('should carry the version the CHANGELOG describes', () => {
    const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
    const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8');
    expect(/^## (\d+\.\d+\.\d+)/m.exec(changelog)?.[1]).toBe(version);
    expect(tarball).toMatch(new RegExp(`express-response-cache-${version.replace(/\./g, '\\.')}\\.tgz$`));
  });
});

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

  it('should compile every ts block of README.md and docs/ strictly, as ESM (nodenext) and as CommonJS', () => {
    // Each block is its own module, with the prelude's `app`, `cache` and app types; as a .cts
    // file it is CommonJS, where a top-level await is TS1309.
    const dir = project('snippets', 'express', ['ioredis']);
    const blocks = tsSnippets();
    expect(blocks.length).toBeGreaterThanOrEqual(15);
    mkdirSync(join(dir, 'snippets'));
    for (const b of blocks) {
      const text = `// ${b.file}:${b.line}\n${b.code}\n`;
      writeFileSync(join(dir, 'snippets', `${b.name}.mts`), text);
      writeFileSync(join(dir, 'snippets', `${b.name}.cts`), text);
    }
    expect(run(dir, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'])).toBe('');
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
    // a link's #fragment names a heading of the file, not a file
    const links = [...readme.matchAll(/\]\((?!https?:|#)([^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]);
    for (const link of links) expect(existsSync(join(own, link))).toBe(true);
    writeFileSync(join(dir, 'done'), '');
  });
});
