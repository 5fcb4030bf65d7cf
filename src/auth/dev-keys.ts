import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Logger } from '@nestjs/common';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
} from 'jose';

export const DEV_PRIVATE_KEY_FILE = 'dev-signing-key.private.jwk.json';
export const DEV_JWKS_FILE = 'dev-signing-key.jwks.json';
export const DEV_SIGNING_ALGORITHM = 'RS256';

/** Members of an RSA JWK that belong to the private key only. */
const RSA_PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'] as const;

/** The development key pair that `npm run token` signs with and the service trusts. */
export interface DevSigningKey {
  readonly kid: string;
  readonly algorithm: typeof DEV_SIGNING_ALGORITHM;
  readonly privateKey: CryptoKey;
  /** The public half as a JWKS, the same content as the `dev-signing-key.jwks.json` file. */
  readonly jwks: JSONWebKeySet;
}

const logger = new Logger('DevSigningKey');

/**
 * Loads the development signing key from `dataDir`, creating the key pair on first use.
 *
 * The private JWK is written with mode 0600. Creation is atomic (a temporary file hard-linked into
 * place), so two processes starting together end up sharing one key instead of overwriting each
 * other. The public JWKS file is rewritten from the private key when it is missing or differs.
 */
export async function loadDevSigningKey(dataDir: string): Promise<DevSigningKey> {
  await mkdir(dataDir, { recursive: true });
  const privatePath = join(dataDir, DEV_PRIVATE_KEY_FILE);

  let privateJwk = await readPrivateJwk(privatePath);
  if (privateJwk === undefined) {
    const created = await createPrivateJwk();
    const written = await writeFileExclusive(privatePath, JSON.stringify(created, null, 2) + '\n');
    if (written) {
      logger.log(`Created a development signing key (kid ${created.kid}) in ${privatePath}`);
    }
    // Another process may have won the race, so read back whichever key is now in place.
    privateJwk = await readPrivateJwk(privatePath);
    if (privateJwk === undefined) {
      throw new Error(
        `The development signing key ${privatePath} disappeared while it was created`,
      );
    }
  } else {
    await warnIfReadableByOthers(privatePath);
  }

  const kid = privateJwk.kid as string;
  const publicJwk = toPublicJwk(privateJwk);
  const jwks: JSONWebKeySet = { keys: [publicJwk] };
  await writeJwksIfChanged(join(dataDir, DEV_JWKS_FILE), jwks);
  const privateKey = (await importJWK(privateJwk, DEV_SIGNING_ALGORITHM)) as CryptoKey;

  return { kid, algorithm: DEV_SIGNING_ALGORITHM, privateKey, jwks };
}

/**
 * Returns the public JWKS of the development key for the token verifier.
 *
 * @throws Error in production (NODE_ENV=production), because a key that anyone with access to
 *   DATA_DIR can sign with must never be trusted there.
 */
export async function loadDevPublicJwks(
  dataDir: string,
  production: boolean,
): Promise<JSONWebKeySet> {
  if (production) {
    throw new Error(
      'Neither AUTH_JWKS_URI nor AUTH_JWKS_FILE is set. With NODE_ENV=production the service does ' +
        'not create a development signing key. Set AUTH_JWKS_URI to the identity platform keys ' +
        'endpoint or AUTH_JWKS_FILE to a JWKS file.',
    );
  }
  const key = await loadDevSigningKey(dataDir);
  logger.warn(
    `Trusting the development signing key (kid ${key.kid}) from ${dataDir}. ` +
      'Set AUTH_JWKS_URI or AUTH_JWKS_FILE to trust a real identity provider.',
  );

  return key.jwks;
}

async function createPrivateJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(DEV_SIGNING_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);

  return { ...jwk, kid, alg: DEV_SIGNING_ALGORITHM, use: 'sig' };
}

async function readPrivateJwk(path: string): Promise<JWK | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }

  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new Error(
      `The development signing key ${path} is not valid JSON. Delete it to create one.`,
    );
  }
  if (!isRsaPrivateJwk(jwk)) {
    throw new Error(
      `The development signing key ${path} is not an RSA private JWK with a kid. ` +
        'Delete it to create one.',
    );
  }

  return jwk;
}

function isRsaPrivateJwk(value: unknown): value is JWK {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return false;
  }
  const jwk = value as Record<string, unknown>;

  return (
    jwk.kty === 'RSA' &&
    typeof jwk.n === 'string' &&
    typeof jwk.e === 'string' &&
    typeof jwk.d === 'string' &&
    typeof jwk.kid === 'string' &&
    jwk.kid.length > 0
  );
}

function toPublicJwk(privateJwk: JWK): JWK {
  const publicJwk: Record<string, unknown> = { ...privateJwk };
  for (const member of RSA_PRIVATE_MEMBERS) {
    delete publicJwk[member];
  }
  delete publicJwk.key_ops;
  delete publicJwk.ext;

  return { ...publicJwk, alg: DEV_SIGNING_ALGORITHM, use: 'sig' };
}

/** Writes `content` to `path` with mode 0600 unless the file exists. Returns false if it did. */
async function writeFileExclusive(path: string, content: string): Promise<boolean> {
  const temporaryPath = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temporaryPath, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporaryPath, path);

    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return false;
    }
    throw error;
  } finally {
    await unlink(temporaryPath);
  }
}

async function writeJwksIfChanged(path: string, jwks: JSONWebKeySet): Promise<void> {
  const content = JSON.stringify(jwks, null, 2) + '\n';
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) {
    return;
  }
  const temporaryPath = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(temporaryPath, content, { mode: 0o644 });
  await rename(temporaryPath, path);
}

async function warnIfReadableByOthers(path: string): Promise<void> {
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) {
    logger.warn(
      `The development signing key ${path} has mode ${(mode & 0o777).toString(8)}, so other ` +
        'users may be able to read it. Run chmod 600 on it.',
    );
  }
}
