/**
 * `npm run bench`: builds the service, prepares the benchmark database, starts the service and
 * the baseline server, runs every scenario against both with autocannon, rotating which goes
 * first, walks deep pages, and writes the results page. `--help` lists the options.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { compareBodies, compareStatements } from './compare.js';
import { ensureDatabase, prepareDataset, type Dataset } from './dataset.js';
import { createBenchIssuer } from './keys.js';
import { runLoad } from './load.js';
import { type BenchOptions, parseOptions } from './options.js';
import { findPagePath, walkAllPages } from './paging.js';
import { delay, measureUsage } from './processes.js';
import { formatSummary, summarizeProfile } from './profile-summary.js';
import {
  type Measurement,
  type RunReport,
  type ScenarioReport,
  type WalkReport,
  writeResults,
} from './report.js';
import { DEEP_PAGE_NUMBER, type Scenario, type ScenarioInputs, type Target } from './scenarios.js';
import { type RunningTarget, startTargets, stopTargets } from './servers.js';

const OUT_DIRECTORY = path.resolve('bench/out');
const WALK_MARKS = [1, 100, 1000];
const MIXED_RSS_LIMIT_MEGABYTES = 200;
const DEEP_PAGE_LIMIT = 1.2;

function log(line: string): void {
  console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

function databaseUrlOf(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Page size of the paging checks: 100, or less when tenants are too small for 1000 pages. */
function walkPageSize(dataset: Dataset): number {
  return Math.max(1, Math.min(100, Math.floor(dataset.rowsPerTenant / 1000)));
}

async function describeMachine(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const version = await client.query<{ server_version: string }>('SHOW server_version');
  await client.end();
  const cpus = os.cpus();
  return [
    `Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ` +
      `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${os.type()} ${os.release()}`,
    `Node.js ${process.version}, PostgreSQL ${version.rows[0].server_version}; the load ` +
      'generator (autocannon, in the runner process), the servers and PostgreSQL share the machine',
  ];
}

/** Follows next links up to the deep page for every tenant, all tenants at once. */
async function findDeepPages(
  target: Target,
  dataset: Dataset,
  tokens: ReadonlyMap<string, string>,
): Promise<Map<string, string>> {
  const query = `$top=${walkPageSize(dataset)}`;
  const paths = await Promise.all(
    dataset.tenantIds.map((tenantId) =>
      findPagePath(target, tokens.get(tenantId) ?? '', query, DEEP_PAGE_NUMBER),
    ),
  );
  return new Map(dataset.tenantIds.map((tenantId, index) => [tenantId, paths[index]]));
}

function connectionsOf(options: BenchOptions, scenario: Scenario): number {
  return Math.min(options.connections, scenario.maxConnections ?? options.connections);
}

function durationOf(options: BenchOptions, scenario: Scenario): number {
  const limit = options.quick ? scenario.quickDurationSeconds : undefined;
  return Math.min(options.durationSeconds, limit ?? options.durationSeconds);
}

/**
 * Checks, before any timing, that the baseline returns the service's status and body for the
 * same-body requests of every scenario that has them.
 */
async function compareTargets(
  options: BenchOptions,
  targets: readonly RunningTarget[],
  dataset: Dataset,
  tokens: ReadonlyMap<string, string>,
): Promise<void> {
  const service = targets.find((target) => target.name === 'service');
  const baseline = targets.find((target) => target.name === 'baseline');
  if (service === undefined || baseline === undefined) {
    return;
  }
  const inputs = { dataset, tokens, deepPagePaths: new Map<string, string>() };
  for (const scenario of options.scenarios) {
    const compared = await compareBodies(scenario, service, baseline, inputs);
    if (compared > 0) {
      log(`${scenario.key}: service and baseline returned equal bodies for ${compared} requests`);
    }
  }
}

/**
 * Checks that the baseline sends the service's statements for every scenario with same-body
 * requests, reading PostgreSQL's log. Both servers log every statement meanwhile, so nothing is
 * timed.
 */
async function compareTargetStatements(
  options: BenchOptions,
  targets: readonly RunningTarget[],
  dataset: Dataset,
  tokens: ReadonlyMap<string, string>,
  logPath: string,
): Promise<void> {
  const service = targets.find((target) => target.name === 'service');
  const baseline = targets.find((target) => target.name === 'baseline');
  if (service === undefined || baseline === undefined) {
    throw new Error('--check-sql needs the targets service and baseline.');
  }
  const inputs = { dataset, tokens, deepPagePaths: new Map<string, string>() };
  for (const scenario of options.scenarios) {
    const compared = await compareStatements(scenario, service, baseline, inputs, logPath);
    if (compared > 0) {
      log(`${scenario.key}: service and baseline sent the same ${compared} statement lines`);
    }
  }
}

async function measureScenario(
  options: BenchOptions,
  scenario: Scenario,
  target: RunningTarget,
  inputs: ScenarioInputs,
): Promise<Measurement> {
  const load = {
    origin: target.origin,
    connections: connectionsOf(options, scenario),
    nextRequest: scenario.requests(inputs),
  };
  await runLoad({ ...load, durationSeconds: options.warmupSeconds });
  // A moment for the warm-up's sockets to close before the measured run.
  await delay(500);
  const { result, usage } = await measureUsage(target.process.pid, options.database, () =>
    runLoad({ ...load, durationSeconds: durationOf(options, scenario) }),
  );
  return { load: result, usage };
}

function describeMeasurement(scenario: Scenario, target: Target, measurement: Measurement) {
  const { load, usage } = measurement;
  return (
    `${scenario.key} ${target.name}: ${load.requestsPerSecond.toFixed(0)} req/s, ` +
    `p50 ${load.p50} ms, p99 ${load.p99} ms, errors ${load.errors}, ` +
    `non-2xx ${load.non2xx} ${JSON.stringify(load.statusCounts)}, ` +
    `RSS ${(usage.peakRssBytes / 2 ** 20).toFixed(0)} MB, ` +
    `CPU ${((usage.cpuMilliseconds * 1000) / Math.max(1, load.requests)).toFixed(0)} µs/req, ` +
    `other load ${(usage.otherCpuShare * 100).toFixed(0)}%`
  );
}

/**
 * Runs every scenario against every target. Each round rotates the order of the targets, so
 * that no target always runs first or last after the writes of another.
 */
async function runScenarios(
  options: BenchOptions,
  targets: readonly RunningTarget[],
  dataset: Dataset,
  tokens: ReadonlyMap<string, string>,
): Promise<ScenarioReport[]> {
  await compareTargets(options, targets, dataset, tokens);
  const deepPagePaths = new Map<string, Map<string, string>>();
  if (options.scenarios.some((scenario) => ['deep-page', 'mixed'].includes(scenario.key))) {
    const found = await Promise.all(
      targets.map((target) => findDeepPages(target, dataset, tokens)),
    );
    targets.forEach((target, index) => deepPagePaths.set(target.name, found[index]));
  }

  const reports: ScenarioReport[] = [];
  let turn = 0;
  for (const scenario of options.scenarios) {
    const report: ScenarioReport = {
      title: scenario.title,
      targetRatio: scenario.targetRatio,
      runs: {},
    };
    for (let round = 0; round < options.rounds; round += 1) {
      const shift = turn % targets.length;
      turn += 1;
      const order = [...targets.slice(shift), ...targets.slice(0, shift)];
      for (const target of order) {
        const inputs = {
          dataset,
          tokens,
          deepPagePaths: deepPagePaths.get(target.name) ?? new Map<string, string>(),
        };
        const measurement = await measureScenario(options, scenario, target, inputs);
        (report.runs[target.name] ??= []).push(measurement);
        log(describeMeasurement(scenario, target, measurement));
      }
    }
    reports.push(report);
  }
  return reports;
}

async function runWalks(
  targets: readonly RunningTarget[],
  dataset: Dataset,
  tokens: ReadonlyMap<string, string>,
): Promise<WalkReport[]> {
  const tenantId = dataset.tenantIds[0];
  const token = tokens.get(tenantId) ?? '';
  const size = walkPageSize(dataset);
  const queries = [`$top=${size}`, `$orderby=endpointAnalyticsScore desc&$top=${size}`];
  const reports: WalkReport[] = [];
  for (const target of targets) {
    for (const query of queries) {
      const walk = await walkAllPages(target, token, query, WALK_MARKS);
      const times = walk.timings
        .map((timing) => `page ${timing.page} ${timing.medianMilliseconds.toFixed(2)} ms`)
        .join(', ');
      log(`walk ${target.name} ${query}: ${walk.pagesWalked} pages, ${times}`);
      reports.push({ target: target.name, walk });
    }
  }
  return reports;
}

async function summarizeProfiles(directory: string): Promise<void> {
  for (const file of await readdir(directory)) {
    if (file.endsWith('.cpuprofile')) {
      const summary = formatSummary(await summarizeProfile(path.join(directory, file), 30));
      log(`profile ${path.join(directory, file)}\n${summary}`);
    }
  }
}

/**
 * Lists, for the settings, the scenarios whose value of `setting` is below the run's `value`,
 * such as " (10 for apply-groupby)".
 */
function exceptions(
  options: BenchOptions,
  value: number,
  setting: (options: BenchOptions, scenario: Scenario) => number,
): string {
  const fewer = options.scenarios
    .filter((scenario) => setting(options, scenario) < value)
    .map((scenario) => `${setting(options, scenario)} for ${scenario.key}`);
  return fewer.length === 0 ? '' : ` (${fewer.join(', ')})`;
}

function describeSettings(options: BenchOptions, dataset: Dataset, minutes: number): string[] {
  const load = os.loadavg().map((value) => value.toFixed(1));
  return [
    `Dataset: ${options.rows} rows over ${options.tenants} tenants (seed ${options.seed}); ` +
      'each request uses the token of a random tenant',
    `Load: ${options.connections} connections` +
      `${exceptions(options, options.connections, connectionsOf)}, ` +
      `${options.rounds} round(s) of ${options.durationSeconds} s` +
      `${exceptions(options, options.durationSeconds, durationOf)} ` +
      `per scenario and server after ${options.warmupSeconds} s ` +
      'of warm-up, rotating which server goes first; p50 and p99 are averaged over rounds',
    `Deep page: page ${DEEP_PAGE_NUMBER} of \`$top=${walkPageSize(dataset)}\`, ` +
      'one prepared next link per tenant',
    `Whole run: ${minutes.toFixed(1)} minutes; load average at the end ${load.join(', ')}`,
  ];
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  await mkdir(OUT_DIRECTORY, { recursive: true });

  if (options.build) {
    log('building the service');
    execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  }

  const databaseUrl = databaseUrlOf(options.adminUrl, options.database);
  if (await ensureDatabase(options.adminUrl, options.database)) {
    log(`created database ${options.database}`);
  }
  execFileSync(process.execPath, ['dist/src/database/migrate.js'], {
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', NODE_ENV: 'production' },
    stdio: 'inherit',
  });
  const dataset = await prepareDataset(
    databaseUrl,
    { rows: options.rows, tenants: options.tenants, seed: options.seed },
    log,
  );

  const issuer = await createBenchIssuer(path.join(OUT_DIRECTORY, 'keys'));
  const tokens = new Map<string, string>();
  for (const tenantId of dataset.tenantIds) {
    tokens.set(tenantId, await issuer.mint(tenantId, 2 * 3600));
  }

  const profileDirectory = path.join(OUT_DIRECTORY, 'profiles', String(Date.now()));
  if (options.profile) {
    await mkdir(profileDirectory, { recursive: true });
  }
  const targets = await startTargets(
    options,
    databaseUrl,
    issuer.jwksPath,
    profileDirectory,
    OUT_DIRECTORY,
  );
  const interrupt = (): void => {
    void stopTargets(targets).then(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);

  let scenarios: ScenarioReport[];
  let walks: WalkReport[] = [];
  try {
    if (options.statementLog !== undefined) {
      await compareTargets(options, targets, dataset, tokens);
      await compareTargetStatements(options, targets, dataset, tokens, options.statementLog);
      log('compared the statements of both servers; nothing was timed');
      return;
    }
    scenarios = await runScenarios(options, targets, dataset, tokens);
    if (options.paging) {
      // A quick run walks the service only, to stay within its time.
      const walked = options.quick
        ? targets.filter((target) => target.name === 'service')
        : targets;
      walks = await runWalks(walked, dataset, tokens);
    }
  } finally {
    await stopTargets(targets);
    process.removeListener('SIGINT', interrupt);
  }
  if (options.profile) {
    await summarizeProfiles(profileDirectory);
  }

  const minutes = (performance.now() - started) / 60_000;
  const argv = process.argv.slice(2);
  const report: RunReport = {
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    command: ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' '),
    machine: await describeMachine(databaseUrl),
    settings: describeSettings(options, dataset, minutes),
    scenarios,
    walks,
    rssLimitMegabytes: MIXED_RSS_LIMIT_MEGABYTES,
    deepPageLimit: DEEP_PAGE_LIMIT,
  };
  if (options.targets.includes('service') && options.targets.includes('baseline')) {
    await writeResults(options.output, report);
    execFileSync('npx', ['prettier', '--log-level', 'warn', '--write', options.output], {
      stdio: 'inherit',
    });
    log(`wrote ${path.relative(process.cwd(), options.output)}`);
  }
  log(`done in ${minutes.toFixed(1)} minutes`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
