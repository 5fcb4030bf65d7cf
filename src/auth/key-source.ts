import { readFile } from 'node:fs/promises';

import { createLocalJWKSet, importJWK, type JSONWebKeySet, type JWK } from 'jose';

import { loadDevPublicJwks } from './dev-keys.js';

/** A key set held in memory, read from AUTH_JWKS_FILE or made for development. */
export interface LocalKeySource {
  readonly kind: 'local';
  readonly jwks: JSONWebKeySet;
}

/** A key set fetched from AUTH_JWKS_URI and cached. Durations are in milliseconds. */
export interface RemoteKeySource {
  readonly kind: 'remote';
  readonly url: URL | string;
  /** Abort a key set request after this long. Default 5000. */
  readonly timeoutMs?: number;
  /** After a fetch, an unknown `kid` triggers no new fetch for this long. Default 30000. */
  readonly cooldownMs?: number;
  /** Refetch the key set once it is this old. Default 600000 (10 minutes). */
  readonly cacheMaxAgeMs?: number;
  /**
   * While the endpoint fails, keep trusting the last fetched key set up to this age.
   * Default 86400000 (24 hours).
   */
  readonly staleMaxAgeMs?: number;
  /** After a failed fetch, respond 503 without fetching for this many seconds. Default 10. */
  readonly retryAfterSeconds?: number;
}

export type KeySource = LocalKeySource | RemoteKeySource;

/** Key settings from the environment: AUTH_JWKS_URI, AUTH_JWKS_FILE, DATA_DIR and NODE_ENV. */
export interface KeySourceSettings {
  readonly jwksUri?: string;
  readonly jwksFile?: string;
  readonly dataDir: string;
  /** True when NODE_ENV is 'production', where the development key is rejected. */
  readonly production: boolean;
}

const SYMMETRIC_OR_PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];
const MIN_RSA_MODULUS_BITS = 2048;

/**
 * Chooses the key source: AUTH_JWKS_FILE first, then AUTH_JWKS_URI, else the development key
 * (which `loadDevPublicJwks` rejects in production).
 */
export async function resolveKeySource(settings: KeySourceSettings): Promise<KeySource> {
  if (settings.jwksFile) {
    return { kind: 'local', jwks: await readJwksFile(settings.jwksFile) };
  }
  if (settings.jwksUri) {
    return { kind: 'remote', url: parseJwksUri(settings.jwksUri) };
  }

  return { kind: 'local', jwks: await loadDevPublicJwks(settings.dataDir, settings.production) };
}

/**
 * Parses AUTH_JWKS_URI. It must be https, except on a loopback host where http is accepted for
 * local test identity providers.
 */
export function parseJwksUri(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`AUTH_JWKS_URI is not a valid URL: '${value}'.`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error(`AUTH_JWKS_URI must be an https URL, got '${value}'.`);
  }

  return url;
}

/**
 * Reads and checks a JWKS file. Every key must be a public signature key with a `kid` that jose can
 * import, so a broken file stops the start instead of failing each request.
 */
export async function readJwksFile(path: string): Promise<JSONWebKeySet> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`AUTH_JWKS_FILE ${path} could not be read: ${(error as Error).message}`);
  }

  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(text) as JSONWebKeySet;
    createLocalJWKSet(jwks);
  } catch {
    throw new Error(`AUTH_JWKS_FILE ${path} is not a JWKS, a JSON object with a "keys" array.`);
  }
  if (jwks.keys.length === 0) {
    throw new Error(`AUTH_JWKS_FILE ${path} contains no keys.`);
  }
  for (const [index, jwk] of jwks.keys.entries()) {
    await checkPublicJwk(jwk, `AUTH_JWKS_FILE ${path}, key ${index}`);
  }

  return jwks;
}

async function checkPublicJwk(jwk: JWK, label: string): Promise<void> {
  if (typeof jwk.kid !== 'string' || jwk.kid.length === 0) {
    throw new Error(`${label} has no "kid". Tokens select their key by kid.`);
  }
  const secretMembers = SYMMETRIC_OR_PRIVATE_MEMBERS.filter((member) => member in jwk);
  if (secretMembers.length > 0) {
    throw new Error(
      `${label} (kid ${jwk.kid}) contains private or symmetric key material ` +
        `(${secretMembers.join(', ')}). Publish only public keys.`,
    );
  }

  const algorithm = jwk.alg ?? defaultAlgorithm(jwk);
  if (algorithm === undefined) {
    throw new Error(
      `${label} (kid ${jwk.kid}) has key type '${jwk.kty}', which cannot sign tokens.`,
    );
  }
  try {
    await importJWK(jwk, algorithm);
  } catch (error) {
    throw new Error(`${label} (kid ${jwk.kid}) is invalid: ${(error as Error).message}`);
  }
  if (
    jwk.kty === 'RSA' &&
    Buffer.from(jwk.n ?? '', 'base64url').length * 8 < MIN_RSA_MODULUS_BITS
  ) {
    throw new Error(`${label} (kid ${jwk.kid}) is an RSA key under ${MIN_RSA_MODULUS_BITS} bits.`);
  }
}

const EC_ALGORITHMS: Readonly<Record<string, string>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
};

/** Picks an algorithm to test-import a key that has no `alg` member. */
function defaultAlgorithm(jwk: JWK): string | undefined {
  if (jwk.kty === 'RSA') {
    return 'RS256';
  }
  if (jwk.kty === 'EC') {
    return EC_ALGORITHMS[jwk.crv ?? ''];
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
    return 'EdDSA';
  }

  return undefined;
}
