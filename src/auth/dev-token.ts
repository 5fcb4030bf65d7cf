import { SignJWT, type JWTPayload } from 'jose';

import type { DevSigningKey } from './dev-keys.js';

/** The claims of a development access token, shaped like a Microsoft identity platform token. */
export interface DevTokenRequest {
  readonly tenantId: string;
  /** Client application: `azp` in v2 tokens, `appid` in v1 tokens. */
  readonly applicationId: string;
  readonly audience: string;
  readonly lifetimeSeconds: number;
  readonly issuerVersion: 1 | 2;
  /** Delegated scopes, sent as one space-separated `scp` string. Ignored when `roles` is set. */
  readonly scopes?: readonly string[];
  /** Application roles, sent as the `roles` array of an app-only token. */
  readonly roles?: readonly string[];
}

/** Subject of delegated development tokens, standing for a signed-in user. */
export const DEV_USER_ID = '00000000-0000-4000-8000-0000000000ee';

/** Signs an access token with the development key. */
export async function mintDevToken(key: DevSigningKey, request: DevTokenRequest): Promise<string> {
  const tenantId = request.tenantId.toLowerCase();
  const appOnly = request.roles !== undefined;
  const claims: JWTPayload =
    request.issuerVersion === 1
      ? { ver: '1.0', appid: request.applicationId }
      : { ver: '2.0', azp: request.applicationId };
  claims.tid = tenantId;
  if (appOnly) {
    claims.roles = [...(request.roles ?? [])];
  } else if (request.scopes !== undefined && request.scopes.length > 0) {
    claims.scp = request.scopes.join(' ');
  }

  const issuer =
    request.issuerVersion === 1
      ? `https://sts.windows.net/${tenantId}/`
      : `https://login.microsoftonline.com/${tenantId}/v2.0`;
  const now = Math.floor(Date.now() / 1000);

  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.algorithm, typ: 'JWT', kid: key.kid })
    .setIssuer(issuer)
    .setAudience(request.audience)
    .setSubject(appOnly ? request.applicationId : DEV_USER_ID)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + request.lifetimeSeconds)
    .sign(key.privateKey);
}
