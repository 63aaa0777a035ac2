/** `cdr-pipeline schema-types`: its options, help and action. */
import { common, out, type Command } from '../command.js';

export const schemaTypes: Command = {
  summary: 'regenerate the TypeScript types from the Avro schemas',
  usage: 'cdr-pipeline schema-types [--check]',
  options: { ...common, check: { type: 'boolean' } },
  help: `Writes schemas/types.generated.ts from schemas/avro/*.avsc (the schemas are the source of truth; the
types are never edited by hand). Run after changing a schema, then rebuild.

    --check           only compare; exit 1 if the file is stale`,
  async run(values) {
    const { generateTypes } = await import('../../schemas/codegen.js');
    const { schemaPath } = await import('../../schemas/index.js');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const file = schemaPath('types.generated.ts');
    const text = generateTypes();
    const current = readFileSync(file, 'utf8');
    if (values.check === true) {
      out(current === text ? 'schemas/types.generated.ts is up to date' : 'schemas/types.generated.ts is stale: run cdr-pipeline schema-types');
      return current === text ? 0 : 1;
    }
    writeFileSync(file, text);
    out(current === text ? 'unchanged' : 'wrote schemas/types.generated.ts');
    return 0;
  },
};
