import { memoryOutput } from '../../src/tools/cli-output.js';
import { IMPORT_USAGE, runImport } from '../../src/tools/import.js';
import { runSeed, SEED_USAGE } from '../../src/tools/seed.js';

// Neither case opens a database, so the URL only has to be valid.
const ENV = { DATABASE_URL: 'postgres://root@127.0.0.1:5432/eas_test' };

const TOOLS = [
  { name: 'seed', run: runSeed, usage: SEED_USAGE },
  { name: 'import', run: runImport, usage: IMPORT_USAGE },
];

describe.each(TOOLS)('npm run $name options', ({ run, usage }) => {
  test('--help prints the usage', async () => {
    const output = memoryOutput();

    expect(await run(['--help'], ENV, output)).toBe(0);
    expect(output.out.join('')).toBe(usage);
    expect(output.err).toEqual([]);
  });

  test('an unknown option exits with 2', async () => {
    const output = memoryOutput();

    expect(await run(['--colour', 'red'], ENV, output)).toBe(2);
    expect(output.err.join('')).toMatch(/colour[\s\S]*Run with --help to list the options\./);
    expect(output.out).toEqual([]);
  });
});
