// `npm run manifest`: writes the settings enums of package.json from the registries (scripts/manifestEnums.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withRegistryEnums } from './manifestEnums';

const path = join(__dirname, '..', 'package.json');
const before = readFileSync(path, 'utf8');
const after = JSON.stringify(withRegistryEnums(JSON.parse(before)), null, 2) + '\n';
if (after === before) console.log('package.json: the settings enums already match the registries.');
else {
  writeFileSync(path, after);
  console.log('package.json: settings enums written from the registries.');
}
