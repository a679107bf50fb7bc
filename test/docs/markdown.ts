/**
 * The code blocks of README.md and docs/*.md, for the tests that keep them true: every block
 * is tagged, every `ts` block is compiled (test/consumers) and the Quick start also runs
 * (test/docs/quick-start.test.ts). A block preceded by `<!-- embed: path#region -->` is a
 * copy of that region of a repository file (`// #region name` … `// #endregion`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const root = join(__dirname, '../..');

export interface CodeBlock {
  /** `README.md`, `docs/options.md` */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  readonly code: string;
  /** `test/docs/quick-start.ts#quick-start` when the block is embedded from a file. */
  readonly embed?: string;
  /** The fence closed before the end of the file. */
  readonly closed: boolean;
}

export function markdownFiles(): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

export function codeBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    let embed: string | undefined;
    for (let j = start - 1; j >= 0 && j >= start - 2; j--) {
      const m = /^<!-- embed: (\S+) -->$/.exec(lines[j]);
      if (m) embed = m[1];
    }
    blocks.push({ file, line: start + 1, lang: open[1], code: body.join('\n'), embed, closed: i < lines.length });
  }
  return blocks;
}

/** The text between `// #region name` and `// #endregion` in a repository file. */
export function region(spec: string): string {
  const [path, name] = spec.split('#');
  const lines = readFileSync(join(root, path), 'utf8').split('\n');
  const from = lines.findIndex((l) => l.trim() === `// #region ${name}`);
  const to = lines.findIndex((l, i) => i > from && l.trim() === '// #endregion');
  if (from < 0 || to < 0) throw new Error(`${spec}: no region ${name}`);
  return lines.slice(from + 1, to).join('\n');
}

/** Every `ts` block of the docs, named for the file it will be compiled as. */
export function tsSnippets(): Array<CodeBlock & { name: string }> {
  return markdownFiles().flatMap((file) =>
    codeBlocks(file)
      .filter((b) => b.lang === 'ts')
      .map((b) => ({ ...b, name: `${file.replace(/^docs\//, '').replace(/\.md$/, '')}-${b.line}` })),
  );
}
