import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/**
 * Contents of a lock file. The random token makes every lock's contents unique, so comparing
 * contents distinguishes our lock from another process's lock even when both have the same pid.
 */
interface LockOwner {
  pid: number;
  hostname: string;
  token: string;
  createdAt: string;
}

/** A data directory lock held by this process. */
export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Thrown when another running process, or this one, already holds the lock. */
export class DataDirInUseError extends Error {
  constructor(
    readonly lockPath: string,
    readonly ownerPid: number,
    ownerHost: string,
  ) {
    super(
      `The embedded database is already in use by process ${ownerPid} on ${ownerHost} ` +
        `(lock file ${lockPath}). Stop that process, or set DATABASE_URL to use another ` +
        `PostgreSQL server. If no process uses this directory, delete the lock file.`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** Lock files this process holds or is taking, so a second open from this process is rejected. */
const heldLockPaths = new Set<string>();

/** Attempts before giving up when other processes keep creating and removing the lock. */
const MAX_ATTEMPTS = 5;

/**
 * Takes the lock file at `lockPath`, removing a stale one left by a process that is no longer
 * running. Throws DataDirInUseError when a live process holds it. Pass an absolute path, because
 * the same-process check compares paths as given.
 */
export async function acquireDataDirLock(lockPath: string): Promise<DataDirLock> {
  // Claimed before the first await, so concurrent calls in this process cannot both pass.
  if (heldLockPaths.has(lockPath)) {
    throw new DataDirInUseError(lockPath, process.pid, hostname());
  }
  heldLockPaths.add(lockPath);

  try {
    return await takeLockFile(lockPath);
  } catch (error) {
    heldLockPaths.delete(lockPath);
    throw error;
  }
}

async function takeLockFile(lockPath: string): Promise<DataDirLock> {
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    token: randomUUID(),
    createdAt: new Date().toISOString(),
  };
  const content = `${JSON.stringify(owner)}\n`;

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (await createLockFile(lockPath, content)) {
      return holdLock(lockPath, content);
    }

    const existing = await readLockFile(lockPath);
    if (existing === undefined) {
      // The holder released the lock between our attempt and this read.
      continue;
    }

    const existingOwner = parseLockOwner(existing);
    if (existingOwner !== undefined && isProcessRunning(existingOwner.pid)) {
      throw new DataDirInUseError(lockPath, existingOwner.pid, existingOwner.hostname);
    }

    await removeStaleLock(lockPath, existing);
  }

  throw new Error(
    `Failed to take the lock file ${lockPath} after ${MAX_ATTEMPTS} attempts, because other ` +
      `processes kept creating it. Start one process at a time on this data directory.`,
  );
}

/**
 * Creates the lock file with its full contents in one step: the contents go to a temporary file,
 * which is then hard-linked to the lock path. Linking fails if the lock path exists, so a reader
 * never sees an empty or half-written lock. Returns false when the lock file already exists.
 */
async function createLockFile(lockPath: string, content: string): Promise<boolean> {
  const temporaryPath = `${lockPath}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temporaryPath, content, { flag: 'wx' });
  try {
    await link(temporaryPath, lockPath);
    return true;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') {
      return false;
    }
    throw new Error(`Failed to create the lock file ${lockPath}: ${String(error)}`, {
      cause: error,
    });
  } finally {
    await unlink(temporaryPath).catch(() => undefined);
  }
}

function holdLock(lockPath: string, content: string): DataDirLock {
  // Removes the lock when the process exits without calling release(). Exit listeners must be
  // synchronous, hence the sync file calls.
  const removeOnExit = (): void => {
    try {
      if (readFileSync(lockPath, 'utf8') === content) {
        unlinkSync(lockPath);
      }
    } catch {
      // The lock file is already gone, and nothing can be reported while exiting.
    }
  };
  process.once('exit', removeOnExit);

  let released: Promise<void> | undefined;
  const release = async (): Promise<void> => {
    process.removeListener('exit', removeOnExit);
    try {
      // Delete only our own lock file, in case someone removed it by hand and another
      // process has taken the directory since.
      if ((await readLockFile(lockPath)) === content) {
        await unlink(lockPath);
      }
    } finally {
      heldLockPaths.delete(lockPath);
    }
  };

  return {
    path: lockPath,
    release: () => (released ??= release()),
  };
}

/**
 * Removes a lock whose owner is not running. The lock is first renamed to a name only this
 * process uses, and put back if it turns out not to be the stale lock. Two processes that found
 * the same stale lock therefore cannot delete each other's new lock.
 */
async function removeStaleLock(lockPath: string, staleContent: string): Promise<void> {
  const asidePath = `${lockPath}.${process.pid}.${randomUUID()}.stale`;
  try {
    await rename(lockPath, asidePath);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') {
      return;
    }
    throw error;
  }

  const movedContent = await readLockFile(asidePath);
  if (movedContent !== staleContent) {
    // Another process replaced the stale lock in the meantime, and this rename took its new
    // lock. Putting it back lets the next attempt find the running owner.
    await link(asidePath, lockPath).catch(() => undefined);
  }
  await unlink(asidePath).catch(() => undefined);
}

async function readLockFile(lockPath: string): Promise<string | undefined> {
  try {
    return await readFile(lockPath, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
}

/**
 * Parses lock file contents. Returns undefined for contents this module did not write, and the
 * caller treats such a lock as stale.
 */
function parseLockOwner(content: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(content) as Partial<LockOwner>;
    if (!Number.isSafeInteger(parsed.pid) || (parsed.pid ?? 0) <= 0) {
      return undefined;
    }

    return {
      pid: parsed.pid as number,
      hostname: typeof parsed.hostname === 'string' ? parsed.hostname : 'an unknown host',
      token: typeof parsed.token === 'string' ? parsed.token : '',
      createdAt: typeof parsed.createdAt === 'string' ? parsed.createdAt : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * Checks whether a process with this id is running on this machine. Our own pid counts as not
 * running. A lock with our pid that this process does not hold was left by an earlier process
 * with the same pid, as when a container restarts and the service is pid 1 again.
 *
 * NOTE: the check sees only this machine's processes. A lock taken on another host that shares
 * the directory, or a dead owner whose pid now belongs to an unrelated process, is judged
 * wrongly, and the error message then tells the operator how to remove the lock by hand.
 */
function isProcessRunning(pid: number): boolean {
  if (pid === process.pid) {
    return false;
  }

  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to another user.
    return errorCode(error) === 'EPERM';
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
