import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { BENCH_AUDIENCE } from './keys.js';
import type { BenchOptions } from './options.js';
import { startServer, type ServerProcess } from './processes.js';
import type { Target, TargetName } from './scenarios.js';

/**
 * Returns the node options of `npm run start:prod` in the checkout at `root`, such as its heap
 * limits, so the benchmark runs the service as production starts it.
 */
function productionNodeOptions(root: string): string[] {
  const manifest = JSON.parse(readFileSync(path.resolve(root, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const words = (manifest.scripts?.['start:prod'] ?? '').split(/\s+/);

  return words.filter((word) => word.startsWith('--'));
}

/** A started server with the name it is measured under. */
export interface RunningTarget extends Target {
  readonly process: ServerProcess;
  /** Whether SIGUSR2 must end it first, so that node writes its CPU profile. */
  readonly profiled: boolean;
}

/**
 * Returns the service's environment: the benchmark database and key, quiet logs, no throttling.
 * With `logStatements`, pg sets log_statement=all for every connection of the server.
 */
function serviceEnvironment(
  port: number,
  databaseUrl: string,
  jwksPath: string,
  skiptokenSecret: string,
  logStatements: boolean,
): Record<string, string> {
  return {
    ...(logStatements ? { PGOPTIONS: '-c log_statement=all' } : {}),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    AUTH_JWKS_FILE: jwksPath,
    AUTH_AUDIENCE: BENCH_AUDIENCE,
    LOG_LEVEL: 'warn',
    THROTTLE_REQUESTS: '1000000000',
    THROTTLE_WRITES: '1000000000',
    SKIPTOKEN_SECRET: skiptokenSecret,
  };
}

async function startTarget(
  name: TargetName,
  port: number,
  options: BenchOptions,
  databaseUrl: string,
  jwksPath: string,
  skiptokenSecret: string,
  profileDirectory: string,
  logDirectory: string,
): Promise<RunningTarget> {
  const environment = serviceEnvironment(
    port,
    databaseUrl,
    jwksPath,
    skiptokenSecret,
    options.statementLog !== undefined,
  );
  const logPath = path.join(logDirectory, `${name}.log`);
  const profiled = options.profile;
  const profileArgs = profiled
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${profileDirectory}`,
        `--cpu-prof-name=${name}.cpuprofile`,
        '--import',
        path.resolve('dist/bench/profile-exit.js'),
      ]
    : [];
  const root = name === 'previous' ? (options.previousRoot ?? '.') : '.';
  const script =
    name === 'baseline'
      ? path.resolve('dist/bench/baseline/server.js')
      : path.resolve(root, 'dist/src/main.js');
  const nodeOptions = name === 'baseline' ? [] : productionNodeOptions(root);
  const server = await startServer(
    name,
    [...nodeOptions, ...profileArgs, script],
    environment,
    port,
    logPath,
  );
  return { name, origin: server.origin, process: server, profiled };
}

/**
 * Starts every target of the run, each on its own port from --port upwards. They share one
 * skiptoken secret, so that equal pages carry equal next links and the runner can compare bodies.
 */
export async function startTargets(
  options: BenchOptions,
  databaseUrl: string,
  jwksPath: string,
  profileDirectory: string,
  logDirectory: string,
): Promise<RunningTarget[]> {
  const skiptokenSecret = randomBytes(24).toString('hex');
  const targets: RunningTarget[] = [];
  try {
    for (const [index, name] of options.targets.entries()) {
      const port = options.firstPort + index;
      targets.push(
        await startTarget(
          name,
          port,
          options,
          databaseUrl,
          jwksPath,
          skiptokenSecret,
          profileDirectory,
          logDirectory,
        ),
      );
    }
  } catch (error) {
    await stopTargets(targets);
    throw error;
  }
  return targets;
}

/** Stops the targets; a profiled service first gets SIGUSR2 so that its profile is written. */
export async function stopTargets(targets: readonly RunningTarget[]): Promise<void> {
  for (const target of targets) {
    if (target.profiled && target.process.child.exitCode === null) {
      target.process.child.kill('SIGUSR2');
    }
  }
  await Promise.all(targets.map((target) => target.process.stop()));
}
