import { execFile } from 'node:child_process';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { freePort } from './compiled-service.js';

const run = promisify(execFile);

/** Folder of the PostgreSQL 15 server programs on Debian and Ubuntu. */
const POSTGRES_BIN = process.env.TEST_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

/** The user that runs the server when the tests run as root, which initdb rejects. */
const SERVER_USER = 'postgres';

/**
 * A throwaway PostgreSQL server in its own temporary folder, listening on 127.0.0.1 at a free port
 * with trust authentication. Stop and start it to simulate an outage; `destroy` removes it.
 */
export class PostgresInstance {
  /** Processes stopped by `freeze`, to continue in `thaw`. */
  private frozen: number[] = [];

  private constructor(
    private readonly folder: string,
    readonly port: number,
    private readonly runAs: string | undefined,
  ) {}

  /** The URL of the `postgres` database as the `postgres` superuser. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private get dataDir(): string {
    return path.join(this.folder, 'data');
  }

  /** Creates the cluster and starts the server. */
  static async create(): Promise<PostgresInstance> {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'eas-postgres-'));
    let runAs: string | undefined;
    if (process.getuid?.() === 0) {
      runAs = SERVER_USER;
      const { stdout: uid } = await run('id', ['-u', SERVER_USER]);
      const { stdout: gid } = await run('id', ['-g', SERVER_USER]);
      await chown(folder, Number(uid.trim()), Number(gid.trim()));
    }

    const instance = new PostgresInstance(folder, await freePort(), runAs);
    try {
      await instance.exec('initdb', [
        '-D',
        instance.dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '--encoding=UTF8',
        '--no-sync',
      ]);
      await instance.start();
    } catch (error) {
      await instance.destroy();
      throw error;
    }

    return instance;
  }

  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      `-k ${this.folder}`,
      '-c listen_addresses=127.0.0.1',
      '-c max_connections=40',
    ].join(' ');
    await this.exec('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      path.join(this.folder, 'server.log'),
      '-o',
      options,
      '-w',
      '-t',
      '30',
      'start',
    ]);
  }

  /** Stops the server. `fast` ends sessions and checkpoints; `immediate` is like a crash. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.exec('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '30', 'stop']);
  }

  /**
   * Suspends the server and every backend with SIGSTOP, so connections stay open but nothing
   * responds, as when a host hangs or a network drops packets.
   */
  async freeze(): Promise<void> {
    const postmaster = Number(
      (await readFile(path.join(this.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
    );
    const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(postmaster)]);
    const children = stdout
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => pid > 0);
    this.frozen = [postmaster, ...children];
    for (const pid of this.frozen) {
      process.kill(pid, 'SIGSTOP');
    }
  }

  /** Resumes the processes that `freeze` suspended. */
  thaw(): void {
    for (const pid of this.frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // The process has exited since.
      }
    }
    this.frozen = [];
  }

  /** Stops the server if it runs and removes its folder. */
  async destroy(): Promise<void> {
    this.thaw();
    await this.stop('immediate').catch(() => undefined);
    await rm(this.folder, { recursive: true, force: true });
  }

  private async exec(program: string, args: string[]): Promise<void> {
    const binary = path.join(POSTGRES_BIN, program);
    const [file, fileArgs] =
      this.runAs === undefined
        ? [binary, args]
        : ['runuser', ['-u', this.runAs, '--', binary, ...args]];
    try {
      await run(file, fileArgs, { timeout: 60_000, cwd: os.tmpdir() });
    } catch (error) {
      const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
      throw new Error(`${program} failed:\n${stdout}${stderr}`, { cause: error });
    }
  }
}
