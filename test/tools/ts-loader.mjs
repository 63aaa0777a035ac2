// Lets a child process run the TypeScript sources directly (`node --import ./test/tools/ts-loader.mjs x.ts`),
// as vitest does in-process: the fuzz harness (tools/fuzz/run.ts) runs the pipeline in a child it can kill
// when a record blocks the event loop, and tests must not depend on a fresh dist/ build.
// Imports written `./x.js` resolve to `./x.ts` when only the TypeScript file exists; .ts files are
// transpiled with the project's own TypeScript (no type check: `tsc --noEmit` does that).
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// Module hooks run on a thread of their own: this same file is registered once from the main thread.
if (isMainThread) register(import.meta.url);

let ts;

export async function resolve(specifier, context, next) {
  if (specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('/')) && context.parentURL?.endsWith('.ts')) {
    const url = new URL(specifier, context.parentURL);
    if (!existsSync(fileURLToPath(url))) {
      const tsUrl = url.href.slice(0, -3) + '.ts';
      if (existsSync(fileURLToPath(tsUrl))) return { url: tsUrl, shortCircuit: true, format: 'module' };
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  ts ??= (await import('typescript')).default;
  const fileName = fileURLToPath(url);
  const out = ts.transpileModule(await readFile(fileName, 'utf8'), {
    fileName,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, inlineSourceMap: true, esModuleInterop: true },
  });
  return { format: 'module', source: out.outputText, shortCircuit: true };
}
