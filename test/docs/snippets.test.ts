/**
 * The docs' code blocks are code: tagged with their language, closed, and the embedded ones
 * equal to the file that is compiled and run. test/consumers compiles every `ts` block
 * against the packed package, as ESM (nodenext) and as CommonJS.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeBlocks, markdownFiles, region, root, tsSnippets } from './markdown';

const blocks = markdownFiles().flatMap(codeBlocks);

describe('the code blocks of README.md and docs/', () => {
  it('should each name a language and be closed (an untagged fence swallows the prose after it)', () => {
    const bad = blocks.filter((b) => !['ts', 'sh', 'text'].includes(b.lang) || !b.closed).map((b) => `${b.file}:${b.line} \`\`\`${b.lang}`);
    expect(bad).toEqual([]);
  });

  it('should equal the region of the file each embedded block is taken from', () => {
    const embedded = blocks.filter((b) => b.embed);
    expect(embedded.map((b) => b.embed)).toContain('test/docs/quick-start.ts#quick-start');
    for (const b of embedded) expect({ at: `${b.file}:${b.line}`, code: b.code }).toEqual({ at: `${b.file}:${b.line}`, code: region(b.embed!) });
  });

  it('should put the embedded Quick start first in the README', () => {
    const first = blocks.find((b) => b.file === 'README.md' && b.lang === 'ts');
    expect(first?.embed).toBe('test/docs/quick-start.ts#quick-start');
  });

  it('should use no top-level await (TS1378 under CommonJS): awaits sit in handlers and functions', () => {
    // The compiler says so too (test/consumers compiles each block as CommonJS); this names the block.
    const top = tsSnippets().filter((b) => b.code.split('\n').some((l) => /^(const \w+ = |)await /.test(l)));
    expect(top.map((b) => `${b.file}:${b.line}`)).toEqual([]);
  });

  it('should give every relative link a target that exists', () => {
    const missing: string[] = [];
    for (const file of markdownFiles()) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const [, link] of text.matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = join(root, file.includes('/') ? 'docs' : '', link);
        try {
          readFileSync(target);
        } catch {
          missing.push(`${file}: ${link}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
