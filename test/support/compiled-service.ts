import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { sendRequest } from './http-client.js';

const run = promisify(execFile);

/** The compiled service in a private output folder, so parallel builds in the tree never clash. */
export interface CompiledBuild {
  /** Path of the compiled `src/main.js`. */
  mainPath: string;
  /** The output folder, for compiled tools such as `src/tools/import.js`. */
  outDir: string;
  remove(): Promise<void>;
}

/**
 * Compiles the service with `tsconfig.build.json` into `dist/test-<random>`. The folder is inside
 * the repository so that Node.js resolves `node_modules` from it. Fails with the compiler output
 * when the build fails.
 */
export async function buildService(): Promise<CompiledBuild> {
  const outDir = path.resolve('dist', `test-${randomUUID()}`);
  try {
    await run(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--outDir', outDir],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
    );
  } catch (error) {
    await rm(outDir, { recursive: true, force: true });
    const output = (error as { stdout?: string }).stdout ?? '';
    throw new Error(`Building the service failed:\n${output}`, { cause: error });
  }

  return {
    mainPath: path.join(outDir, 'src', 'main.js'),
    outDir,
    remove: () => rm(outDir, { recursive: true, force: true }),
  };
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

/** A service running as a child process. */
export interface ServiceProcess {
  child: ChildProcess;
  origin: string;
  port: number;
  /** Every line the process wrote to stdout and stderr so far. */
  output: string[];
  /** Resolves with the exit code, or the signal name, when the process has exited. */
  exited: Promise<number | NodeJS.Signals>;
  /** Sends SIGKILL if the process still runs. */
  kill(): void;
}

/**
 * Starts the compiled service on 127.0.0.1 at a free port with the given environment, and waits
 * until /health/live returns 200. Gives up after `startTimeoutMs` with the process output.
 */
export async function startServiceProcess(
  mainPath: string,
  environment: Record<string, string>,
  startTimeoutMs = 30_000,
): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [mainPath], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      output.push(...lines);
    });
    stream?.on('end', () => {
      if (partial !== '') {
        output.push(partial);
      }
    });
  }
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });

  const origin = `http://127.0.0.1:${port}`;
  const service: ServiceProcess = {
    child,
    origin,
    port,
    output,
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    },
  };

  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      break;
    }
    const live = await sendRequest(origin, { method: 'GET', url: '/health/live' }).catch(
      () => undefined,
    );
    if (live?.statusCode === 200) {
      return service;
    }
    await sleep(200);
  }
  service.kill();
  throw new Error(`The service did not start on ${origin}:\n${output.join('\n')}`);
}
