import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { acquireDataDirLock, DataDirInUseError } from '../../src/database/embedded-lock.js';

let directory: string;
let lockPath: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'eas-lock-'));
  lockPath = join(directory, 'pglite.lock');
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill();
  }
  await rm(directory, { recursive: true, force: true });
});

function lockOwnerPid(): number {
  return (JSON.parse(readFileSync(lockPath, 'utf8')) as { pid: number }).pid;
}

/** Writes a lock file as another process would, with the given pid. */
async function writeForeignLock(pid: number): Promise<void> {
  const owner = { pid, hostname: 'test-host', token: 'foreign', createdAt: '2026-01-01T00:00:00Z' };
  await writeFile(lockPath, JSON.stringify(owner));
}

/** Starts a process that idles until the test kills it. */
function startIdleProcess(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

/** Returns the pid of a process that has already exited. */
async function exitedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

describe('acquireDataDirLock', () => {
  it('writes pid and removes on release', async () => {
    const lock = await acquireDataDirLock(lockPath);
    expect(lockOwnerPid()).toBe(process.pid);

    await lock.release();
    expect(existsSync(lockPath)).toBe(false);
    expect(await readdir(directory)).toEqual([]);
  });

  it('rejects a second lock in the same process', async () => {
    const lock = await acquireDataDirLock(lockPath);

    await expect(acquireDataDirLock(lockPath)).rejects.toThrow(DataDirInUseError);
    await lock.release();

    const again = await acquireDataDirLock(lockPath);
    await again.release();
  });

  it('rejects a lock held by a running process', async () => {
    const holder = startIdleProcess();
    await writeForeignLock(holder.pid as number);

    const attempt = acquireDataDirLock(lockPath);
    await expect(attempt).rejects.toThrow(DataDirInUseError);
    await expect(attempt).rejects.toThrow(`process ${holder.pid} on test-host`);
    expect(lockOwnerPid()).toBe(holder.pid);
  });

  it('replaces a lock left by an exited process', async () => {
    await writeForeignLock(await exitedPid());

    const lock = await acquireDataDirLock(lockPath);
    expect(lockOwnerPid()).toBe(process.pid);
    await lock.release();
    expect(await readdir(directory)).toEqual([]);
  });

  it('replaces unheld lock with own pid', async () => {
    await writeForeignLock(process.pid);

    const lock = await acquireDataDirLock(lockPath);
    expect(JSON.parse(readFileSync(lockPath, 'utf8'))).not.toMatchObject({ token: 'foreign' });
    await lock.release();
  });

  it('replaces an unreadable lock', async () => {
    await writeFile(lockPath, 'not a lock');

    const lock = await acquireDataDirLock(lockPath);
    expect(lockOwnerPid()).toBe(process.pid);
    await lock.release();
  });

  it('keeps a foreign lock on release', async () => {
    const lock = await acquireDataDirLock(lockPath);
    await writeForeignLock(12345);

    await lock.release();
    expect(lockOwnerPid()).toBe(12345);
  });

  it('grants one of concurrent callers', async () => {
    const attempts = await Promise.allSettled([
      acquireDataDirLock(lockPath),
      acquireDataDirLock(lockPath),
      acquireDataDirLock(lockPath),
    ]);

    const granted = attempts.filter((attempt) => attempt.status === 'fulfilled');
    const rejected = attempts.filter((attempt) => attempt.status === 'rejected');
    expect(granted).toHaveLength(1);
    expect(rejected).toHaveLength(2);
    for (const attempt of rejected) {
      expect(attempt.reason).toBeInstanceOf(DataDirInUseError);
    }
    await granted[0].value.release();
  });
});
