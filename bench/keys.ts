import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JSONWebKeySet,
} from 'jose';

/** The audience both servers require, passed to the service as AUTH_AUDIENCE. */
export const BENCH_AUDIENCE = 'api://eas-bench';

/** The application id (`azp`) of every benchmark token. */
export const BENCH_APPLICATION_ID = 'bbbbbbbb-0000-4000-8000-00000000be7c';

/** Granted by every benchmark token, so one token serves reads and writes. */
export const BENCH_PERMISSION = 'DeviceManagementManagedDevices.ReadWrite.All';

/** An RS256 signing key made for one benchmark run, with its public JWKS on disk. */
export interface BenchIssuer {
  readonly jwksPath: string;
  /** Signs an access token for the tenant, valid for `lifetimeSeconds`. */
  mint(tenantId: string, lifetimeSeconds: number): Promise<string>;
}

/**
 * Creates an RS256 key pair and writes its public JWKS to `directory/jwks.json`. The tokens
 * have the shape of Microsoft identity platform v2 access tokens, which the service and the
 * baseline verify the same way.
 */
export async function createBenchIssuer(directory: string): Promise<BenchIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const exported = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported);
  const jwks: JSONWebKeySet = { keys: [{ ...exported, kid, alg: 'RS256', use: 'sig' }] };

  await mkdir(directory, { recursive: true });
  const jwksPath = path.join(directory, 'jwks.json');
  await writeFile(jwksPath, JSON.stringify(jwks));

  return {
    jwksPath,
    mint: (tenantId, lifetimeSeconds) => signToken(privateKey, kid, tenantId, lifetimeSeconds),
  };
}

function signToken(
  privateKey: CryptoKey,
  kid: string,
  tenantId: string,
  lifetimeSeconds: number,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);

  return new SignJWT({
    tid: tenantId,
    azp: BENCH_APPLICATION_ID,
    scp: BENCH_PERMISSION,
    ver: '2.0',
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
    .setIssuer(`https://login.microsoftonline.com/${tenantId}/v2.0`)
    .setAudience(BENCH_AUDIENCE)
    .setIssuedAt(now - 60)
    .setNotBefore(now - 60)
    .setExpirationTime(now + lifetimeSeconds)
    .sign(privateKey);
}
