/**
 * The layout's rules, checked on the import graph of every TypeScript file in the repository (README,
 * "Layout"):
 * - product code (the main job, sources, transforms, sinks, the contract, reports, operations) never imports
 *   a simulator, a developer tool, the CLI or a test;
 * - the components (ingest/, enrich/, sinks/) never import each other: they meet through schemas/;
 * - there are no import circles (static and dynamic imports; `import type` erases at compile time and is
 *   not counted).
 * The scan reads the files as text, so it also covers files no test imports.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SKIP = new Set(['node_modules', 'dist', 'data', '.git', '.scratch', 'bench-results']);

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(relative(root, p).split('\\').join('/'));
  }
  return out;
}

const files = walk(root);
const fileSet = new Set(files);

/** Value imports of a file (static and dynamic), resolved to repository paths; type-only imports skipped. */
function importsOf(file: string): string[] {
  const src = readFileSync(join(root, file), 'utf8');
  const out: string[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;
  for (const m of src.matchAll(re)) {
    if (m[2]) continue; // import type / export type
    const spec = m[3] ?? m[4]!;
    const abs = posix.normalize(posix.join(posix.dirname(file), spec));
    const ts = abs.replace(/\.js$/, '.ts');
    if (fileSet.has(ts)) out.push(ts);
    else if (fileSet.has(abs)) out.push(abs);
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));
const top = (f: string) => f.split('/')[0]!;

const PRODUCT = ['pipeline', 'ingest', 'enrich', 'sinks', 'schemas', 'reports', 'operations', 'porting', 'care'];
const NOT_PRODUCT = ['simulators', 'tools', 'cli', 'test', 'bin'];
const COMPONENTS = ['ingest', 'enrich', 'sinks'];

describe('layout', () => {
  it('scans the whole tree (the graph is not empty)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(graph.get('pipeline/app.ts')!.length).toBeGreaterThan(5);
  });

  it('product code never imports a simulator, a developer tool, the CLI or a test', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      if (!PRODUCT.includes(top(f))) continue;
      for (const d of deps) if (NOT_PRODUCT.includes(top(d))) bad.push(`${f} -> ${d}`);
    }
    expect(bad).toEqual([]);
  });

  it('components never import each other (they meet through schemas/)', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      if (!COMPONENTS.includes(top(f))) continue;
      for (const d of deps) if (COMPONENTS.includes(top(d)) && top(d) !== top(f)) bad.push(`${f} -> ${d}`);
    }
    expect(bad).toEqual([]);
  });

  it('has no import circles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 1 | 2>();
    const stack: string[] = [];
    const visit = (f: string): void => {
      state.set(f, 1);
      stack.push(f);
      for (const d of graph.get(f) ?? []) {
        const s = state.get(d);
        if (s === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].join(' -> '));
        else if (s === undefined) visit(d);
      }
      stack.pop();
      state.set(f, 2);
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('the README names every top-level folder in its layout section', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const layout = readme.slice(readme.indexOf('## Layout'), readme.indexOf('\n## ', readme.indexOf('## Layout') + 3));
    const folders = readdirSync(root).filter((n) => !n.startsWith('.') && !SKIP.has(n) && statSync(join(root, n)).isDirectory());
    for (const f of folders) expect(layout, `README layout section lacks ${f}/`).toContain(`${f}/`);
  });
});
