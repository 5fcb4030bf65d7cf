/**
 * A throwaway token issuer for tests: a real key pair, its JWKS in a temporary file (for
 * AUTH_JWKS_FILE) and a `mint` function for tokens shaped like Microsoft identity platform ones.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
} from 'jose';

export const TEST_AUDIENCE = 'api://eas-service';
export const T1 = '11111111-1111-1111-1111-111111111111';
export const T2 = '22222222-2222-2222-2222-222222222222';
export const T3 = '33333333-3333-3333-3333-333333333333';
/** The default `azp` (v2) or `appid` (v1) of minted tokens. */
export const TEST_APP_ID = 'aaaaaaaa-0000-4000-8000-000000000001';
export const OTHER_APP_ID = 'bbbbbbbb-0000-4000-8000-000000000002';

export const READ_ALL = 'DeviceManagementManagedDevices.Read.All';
export const READ_WRITE_ALL = 'DeviceManagementManagedDevices.ReadWrite.All';
export const CONFIGURATION_READ_ALL = 'DeviceManagementConfiguration.Read.All';

export type TestAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

/** WebCrypto parameters that produce the JWS signature of each algorithm. */
const SUBTLE_SIGNING_PARAMETERS: Record<TestAlgorithm, Parameters<typeof crypto.subtle.sign>[0]> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  PS256: { name: 'RSA-PSS', saltLength: 32 },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  EdDSA: { name: 'Ed25519' },
};

/** Claims to put in a token. A claim set to `undefined` is left out of the token. */
export type TestClaims = Record<string, unknown>;

export interface MintOptions {
  /** Header parameters merged over the defaults (`alg`, `typ: 'JWT'`, `kid`). */
  readonly header?: Record<string, unknown>;
  /** Signs with this key instead of the issuer's, for forged tokens. */
  readonly signingKey?: CryptoKey | Uint8Array;
  /** Form of the default `iss`, and `azp` (2) or `appid` (1). Default 2. */
  readonly issuerVersion?: 1 | 2;
}

export interface TestIssuer {
  /** The public JWKS file, for AUTH_JWKS_FILE. */
  readonly jwksPath: string;
  readonly jwks: JSONWebKeySet;
  readonly kid: string;
  readonly algorithm: TestAlgorithm;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The public key as a JWK, with `kid` and `alg`. */
  readonly publicJwk: JWK;
  /** The temporary folder holding the JWKS file. */
  readonly directory: string;
  /**
   * Signs a token. Defaults: `aud` api://eas-service, `tid` T1, the v2 `iss` of the final `tid`,
   * `exp` now+1h, `nbf` and `iat` now-1m, `azp` TEST_APP_ID, `ver` 2.0, and no permissions.
   */
  mint(claims?: TestClaims, options?: MintOptions): Promise<string>;
  /**
   * Signs exactly `header` and `claims` with the issuer key, without the checks jose makes when
   * signing (for example on `crit`). No defaults are added.
   */
  signRaw(header: Record<string, unknown>, claims: TestClaims): Promise<string>;
  /** Deletes the temporary folder. */
  cleanup(): Promise<void>;
}

/** Returns the issuer URL of a tenant in the v1 or v2 form. */
export function issuerFor(tenantId: string, version: 1 | 2 = 2): string {
  return version === 1
    ? `https://sts.windows.net/${tenantId}/`
    : `https://login.microsoftonline.com/${tenantId}/v2.0`;
}

export function nowInSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Builds the default claims, with `overrides` merged over them and `undefined` ones removed. */
export function buildClaims(overrides: TestClaims = {}, issuerVersion: 1 | 2 = 2): TestClaims {
  const now = nowInSeconds();
  // The default issuer follows a string `tid` override, so a token for T2 is issued by T2.
  const issuerTenant = typeof overrides.tid === 'string' ? overrides.tid : T1;
  const defaults: TestClaims = {
    aud: TEST_AUDIENCE,
    iss: issuerFor(issuerTenant, issuerVersion),
    tid: T1,
    iat: now - 60,
    nbf: now - 60,
    exp: now + 3600,
    ver: issuerVersion === 1 ? '1.0' : '2.0',
    ...(issuerVersion === 1 ? { appid: TEST_APP_ID } : { azp: TEST_APP_ID }),
  };

  const claims: TestClaims = {};
  for (const [name, value] of Object.entries({ ...defaults, ...overrides })) {
    if (value !== undefined) {
      claims[name] = value;
    }
  }

  return claims;
}

/** Builds a compact JWS from any header and claims with the given signature part, unsigned. */
export function assembleToken(
  header: Record<string, unknown>,
  claims: TestClaims,
  signature = '',
): string {
  const encode = (value: unknown): string => base64url.encode(JSON.stringify(value));

  return `${encode(header)}.${encode(claims)}.${signature}`;
}

/** Creates a key pair and writes its public JWKS to a new temporary folder. */
export async function createTestIssuer(algorithm: TestAlgorithm = 'RS256'): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair(algorithm, { extractable: true });
  const exported = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported);
  const publicJwk: JWK = { ...exported, kid, alg: algorithm, use: 'sig' };
  const jwks: JSONWebKeySet = { keys: [publicJwk] };

  const directory = await mkdtemp(join(tmpdir(), 'eas-test-issuer-'));
  const jwksPath = join(directory, 'jwks.json');
  await writeFile(jwksPath, JSON.stringify(jwks));

  const mint = async (claims: TestClaims = {}, options: MintOptions = {}): Promise<string> => {
    const header = { alg: algorithm, typ: 'JWT', kid, ...options.header };
    const payload = buildClaims(claims, options.issuerVersion ?? 2);

    return new SignJWT(payload).setProtectedHeader(header).sign(options.signingKey ?? privateKey);
  };

  const signRaw = async (header: Record<string, unknown>, claims: TestClaims): Promise<string> => {
    const unsigned = assembleToken(header, claims).slice(0, -1);
    const signature = await crypto.subtle.sign(
      SUBTLE_SIGNING_PARAMETERS[algorithm],
      privateKey,
      new TextEncoder().encode(unsigned),
    );

    return `${unsigned}.${base64url.encode(new Uint8Array(signature))}`;
  };

  return {
    jwksPath,
    jwks,
    kid,
    algorithm,
    privateKey,
    publicKey,
    publicJwk,
    directory,
    mint,
    signRaw,
    cleanup: () => rm(directory, { recursive: true, force: true }),
  };
}
