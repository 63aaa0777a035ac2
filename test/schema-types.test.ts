import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { generateTypes } from '../schemas/codegen.js';
import { cdrCodec, schemaPath } from '../schemas/index.js';
import { generateCdrs } from '../simulators/synthetic.js';

it('the TypeScript types are generated from the current Avro schemas (run `cdr-pipeline schema-types`)', () => {
  expect(readFileSync(schemaPath('types.generated.ts'), 'utf8')).toBe(generateTypes());
});

it('the generated Cdr type names every field of the schema, in order', () => {
  const fields = (cdrCodec().schema as { fields: { name: string }[] }).fields.map((f) => f.name);
  const text = generateTypes();
  const body = text.slice(text.indexOf('export interface Cdr {'), text.indexOf('}\n', text.indexOf('export interface Cdr {')));
  const declared = [...body.matchAll(/^ {2}(\w+): /gm)].map((m) => m[1]);
  expect(declared).toEqual(fields);
  // And a generated CDR (typed by it) is valid against the schema.
  for (const c of generateCdrs({ seed: 1, subscribers: 10, startMs: 0, meanGapMs: 10, switches: 1 }, 20)) expect(cdrCodec().isValid(c)).toBe(true);
});
