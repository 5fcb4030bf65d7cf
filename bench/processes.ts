import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';

/** A server process the benchmark started, with its log file. */
export interface ServerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly origin: string;
  /** Stops the process with SIGTERM, then SIGKILL after 10 s, and waits for its exit. */
  stop(): Promise<void>;
}

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Starts `node args` with the environment and waits until it responds to HTTP on the port.
 * Output goes to `logPath`. Rejects a port where a server already responds, so the benchmark
 * never measures a server it did not start.
 */
export async function startServer(
  name: string,
  args: string[],
  environment: Record<string, string>,
  port: number,
  logPath: string,
): Promise<ServerProcess> {
  const origin = `http://127.0.0.1:${port}`;
  if (await answers(origin)) {
    throw new Error(`Port ${port} is already in use; choose free ports with --port.`);
  }

  const log = createWriteStream(logPath);
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const deadline = Date.now() + 60_000;
  while (!(await answers(origin))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start on port ${port}; see ${logPath}.`);
    }
    await delay(200);
  }

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
  };

  return { name, child, pid: child.pid ?? 0, origin, stop };
}

async function answers(origin: string): Promise<boolean> {
  try {
    const response = await fetch(`${origin}/`, { signal: AbortSignal.timeout(1000) });
    await response.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

export function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Reads a `kB` field such as VmRSS or VmHWM from /proc/<pid>/status, in bytes. */
async function readStatusBytes(pid: number, field: string): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** CPU time (user plus system) of a process in milliseconds, from /proc/<pid>/stat. */
async function readCpuMilliseconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces, so fields are counted after its closing bracket.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU time in milliseconds of each PostgreSQL backend connected to `database`, by process id,
 * found by the process title PostgreSQL sets (`postgres: 15/main: user database host(port) state`).
 */
async function readPostgresCpuByPid(database: string): Promise<Map<number, number>> {
  const times = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const title = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (title.startsWith('postgres: ') && title.includes(` ${database} `)) {
        times.set(Number(entry), await readCpuMilliseconds(Number(entry)));
      }
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return times;
}

/**
 * CPU time the backends used since `before`. Backends that ended meanwhile are left out, and
 * a backend that started meanwhile counts from zero.
 */
function postgresCpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, time] of after) {
    total += time - (before.get(pid) ?? 0);
  }
  return total;
}

/** Busy CPU time of the whole machine in milliseconds, from the first line of /proc/stat. */
async function readMachineBusyMilliseconds(): Promise<number> {
  const stat = await readFile('/proc/stat', 'utf8');
  const ticks = stat.slice(0, stat.indexOf('\n')).split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = ticks;
  return ((user + nice + system + irq + softirq + steal) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Peak memory and CPU time of a server process over one measured run. */
export interface UsageReport {
  peakRssBytes: number;
  cpuMilliseconds: number;
  postgresCpuMilliseconds: number;
  /**
   * Share of the machine's CPU capacity used during the run by processes outside the benchmark
   * (neither the server, its PostgreSQL backends nor the runner), from 0 to 1. A high share
   * means other work on the machine disturbed the run.
   */
  otherCpuShare: number;
}

/**
 * Measures a server process during `work`. The kernel's peak RSS (VmHWM) is reset first by
 * writing 5 to /proc/<pid>/clear_refs; where that is not allowed, only the peak of VmRSS samples
 * taken every 100 ms is reported. PostgreSQL CPU time counts the backends of `database` only,
 * so the WAL writer, the checkpointer and autovacuum are left out.
 */
export async function measureUsage<T>(
  pid: number,
  database: string,
  work: () => Promise<T>,
): Promise<{ result: T; usage: UsageReport }> {
  const peakReset = await writeFile(`/proc/${pid}/clear_refs`, '5').then(
    () => true,
    () => false,
  );
  let sampledPeak = await readStatusBytes(pid, 'VmRSS');
  const sampler = setInterval(() => {
    readStatusBytes(pid, 'VmRSS')
      .then((rss) => {
        sampledPeak = Math.max(sampledPeak, rss);
      })
      .catch(() => undefined);
  }, 100);
  const cpuBefore = await readCpuMilliseconds(pid);
  const postgresBefore = await readPostgresCpuByPid(database);
  const machineBefore = await readMachineBusyMilliseconds();
  const runnerBefore = process.cpuUsage();
  const started = performance.now();

  try {
    const result = await work();
    const elapsed = performance.now() - started;
    const runner = process.cpuUsage(runnerBefore);
    const cpuMilliseconds = (await readCpuMilliseconds(pid)) - cpuBefore;
    const postgresCpuMilliseconds = postgresCpuSince(
      postgresBefore,
      await readPostgresCpuByPid(database),
    );
    const machine = (await readMachineBusyMilliseconds()) - machineBefore;
    const ours = cpuMilliseconds + postgresCpuMilliseconds + (runner.user + runner.system) / 1000;
    const otherCpuShare = Math.max(0, machine - ours) / (elapsed * os.availableParallelism());
    const kernelPeak = peakReset ? await readStatusBytes(pid, 'VmHWM') : 0;
    const peakRssBytes = Math.max(sampledPeak, kernelPeak);
    return {
      result,
      usage: { peakRssBytes, cpuMilliseconds, postgresCpuMilliseconds, otherCpuShare },
    };
  } finally {
    clearInterval(sampler);
  }
}
