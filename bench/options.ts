import path from 'node:path';
import { parseArgs } from 'node:util';

import {
  GROUP_BY_MODEL_CONNECTIONS,
  SCENARIOS,
  type Scenario,
  type TargetName,
} from './scenarios.js';

export const HELP = `Usage: npm run bench -- [options]

  --quick              100,000 rows, 2 s per run (1 s for model-scores and
                       worst-models), 1 s warm-up, one round, deep-paging walk of the service
                       only (under 2 minutes)
  --rows N             rows in the dataset (default 1000000)
  --tenants N          tenants the rows are spread over (default 10)
  --seed N             seed of the generated data (default 7)
  --duration S         seconds of each measured run (default 10)
  --warmup S           seconds of load before each measured run, not counted (default 2)
  --rounds N           measured runs per scenario and server; the order rotates (default 2)
  --connections N      concurrent connections (default 64; apply-groupby uses at most ${GROUP_BY_MODEL_CONNECTIONS})
  --scenarios A,B      run only these scenarios: ${SCENARIOS.map((scenario) => scenario.key).join(', ')}
  --targets A,B        servers to measure: service, baseline, previous (default service,baseline)
  --previous-root DIR  a checkout whose built service runs as the target 'previous', for
                       measuring a change against the code before it in the same run
  --no-paging          skip the deep-paging walk
  --profile            run every server under node --cpu-prof and summarise the profiles
  --skip-build         use the existing dist/ build of the service
  --check-sql FILE     time nothing: start both servers with log_statement=all, send each read
                       scenario's request once to each, and compare the statements and
                       parameters PostgreSQL writes to its log FILE (the server's stderr log,
                       such as /var/log/postgresql/postgresql-15-main.log)
  --database NAME      benchmark database (default eas_bench_<rows>)
  --admin-url URL      PostgreSQL URL for creating the database
                       (default postgres://root@127.0.0.1:5432/postgres)
  --port N             first of the ports the servers listen on (default 28170, below the ephemeral port range)
  --output FILE        results page (default bench/RESULTS.md; with --quick bench/out/RESULTS-quick.md)
`;

export interface BenchOptions {
  quick: boolean;
  rows: number;
  tenants: number;
  seed: number;
  durationSeconds: number;
  warmupSeconds: number;
  rounds: number;
  connections: number;
  scenarios: Scenario[];
  targets: TargetName[];
  previousRoot?: string;
  paging: boolean;
  profile: boolean;
  build: boolean;
  /** PostgreSQL's log file, when the run only compares the statements of both servers. */
  statementLog?: string;
  database: string;
  adminUrl: string;
  firstPort: number;
  output: string;
}

const TARGET_NAMES: readonly TargetName[] = ['service', 'baseline', 'previous'];

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) {
    return fallback;
  }
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} must be a positive whole number, not '${text}'.`);
  }
  return value;
}

/** Parses the command line; prints the help and exits for --help. */
export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean' },
      quick: { type: 'boolean' },
      rows: { type: 'string' },
      tenants: { type: 'string' },
      seed: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      scenarios: { type: 'string' },
      targets: { type: 'string' },
      'previous-root': { type: 'string' },
      'no-paging': { type: 'boolean' },
      profile: { type: 'boolean' },
      'skip-build': { type: 'boolean' },
      'check-sql': { type: 'string' },
      database: { type: 'string' },
      'admin-url': { type: 'string' },
      port: { type: 'string' },
      output: { type: 'string' },
    },
  });
  if (values.help === true) {
    console.log(HELP);
    process.exit(0);
  }

  const quick = values.quick === true;
  const rows = positiveInteger('rows', values.rows, quick ? 100_000 : 1_000_000);
  const keys = values.scenarios?.split(',') ?? SCENARIOS.map((scenario) => scenario.key);
  const unknown = keys.filter((key) => !SCENARIOS.some((scenario) => scenario.key === key));
  if (unknown.length > 0) {
    throw new Error(`Unknown scenario ${unknown.join(', ')}; see --help.`);
  }
  const previousRoot = values['previous-root'];
  const defaultTargets =
    previousRoot === undefined ? 'service,baseline' : 'service,baseline,previous';
  const targets = (values.targets ?? defaultTargets).split(',') as TargetName[];
  if (targets.some((target) => !TARGET_NAMES.includes(target))) {
    throw new Error(`--targets takes service, baseline and previous, not '${values.targets}'.`);
  }
  if (targets.includes('previous') && previousRoot === undefined) {
    throw new Error('The target previous needs --previous-root.');
  }

  return {
    quick,
    rows,
    tenants: positiveInteger('tenants', values.tenants, 10),
    seed: positiveInteger('seed', values.seed, 7),
    durationSeconds: positiveInteger('duration', values.duration, quick ? 2 : 10),
    warmupSeconds: positiveInteger('warmup', values.warmup, quick ? 1 : 2),
    rounds: positiveInteger('rounds', values.rounds, quick ? 1 : 2),
    connections: positiveInteger('connections', values.connections, 64),
    scenarios: SCENARIOS.filter((scenario) => keys.includes(scenario.key)),
    targets,
    previousRoot: previousRoot === undefined ? undefined : path.resolve(previousRoot),
    paging: values['no-paging'] !== true,
    profile: values.profile === true,
    build: values['skip-build'] !== true,
    statementLog: values['check-sql'],
    database: values.database ?? `eas_bench_${rows}`,
    adminUrl: values['admin-url'] ?? 'postgres://root@127.0.0.1:5432/postgres',
    firstPort: positiveInteger('port', values.port, 28170),
    output: path.resolve(
      values.output ?? (quick ? 'bench/out/RESULTS-quick.md' : 'bench/RESULTS.md'),
    ),
  };
}
