import type { JWTPayload } from 'jose';

import { invalidToken } from './auth-errors.js';
import type { Principal } from './principal.js';

/** A GUID in 8-4-4-4-12 hex form, any version, any case. */
export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The two issuer forms of the Microsoft identity platform. The GUID in each is the tenant. */
const V1_ISSUER = /^https:\/\/sts\.windows\.net\/([0-9a-fA-F-]{36})\/$/;
const V2_ISSUER = /^https:\/\/login\.microsoftonline\.com\/([0-9a-fA-F-]{36})\/v2\.0$/;

export const UNKNOWN_APPLICATION = 'unknown';

/**
 * Turns the claims of a token whose signature, `exp`, `nbf` and `aud` are already verified into a
 * principal. Checks `tid`, the issuer form, the tenant allow-list and the claim types.
 *
 * @param allowedTenants '*' or lower-case tenant GUIDs.
 * @throws GraphException 401 for a missing or malformed claim or a tenant that is not allowed.
 */
export function readPrincipal(
  claims: JWTPayload,
  allowedTenants: '*' | ReadonlySet<string>,
): Principal {
  const tenantId = readTenantId(claims);
  const tokenVersion = readTokenVersion(claims, tenantId);
  if (allowedTenants !== '*' && !allowedTenants.has(tenantId)) {
    throw invalidToken(`Access tokens from tenant ${tenantId} are not accepted by this service.`);
  }

  const subject = readOptionalString(claims, 'sub');

  return {
    tenantId,
    applicationId: readApplicationId(claims, tokenVersion),
    ...(subject === undefined ? {} : { subject }),
    permissions: readPermissions(claims),
    tokenVersion,
  };
}

function readTenantId(claims: JWTPayload): string {
  const tid = claims.tid;
  if (tid === undefined) {
    throw invalidToken('The access token has no "tid" (tenant ID) claim.');
  }
  if (typeof tid !== 'string' || !GUID_PATTERN.test(tid)) {
    throw invalidToken('The "tid" claim of the access token must be a tenant GUID.');
  }

  return tid.toLowerCase();
}

function readTokenVersion(claims: JWTPayload, tenantId: string): '1.0' | '2.0' {
  const expected =
    `the issuer ("iss") must be https://login.microsoftonline.com/${tenantId}/v2.0 or ` +
    `https://sts.windows.net/${tenantId}/ for the tenant in "tid".`;
  const issuer = claims.iss;
  if (typeof issuer !== 'string') {
    throw invalidToken(`The access token has no valid issuer: ${expected}`);
  }

  const v1Match = V1_ISSUER.exec(issuer);
  const v2Match = V2_ISSUER.exec(issuer);
  const issuerTenant = (v1Match ?? v2Match)?.[1].toLowerCase();
  if (issuerTenant !== tenantId) {
    throw invalidToken(`The access token issuer does not match its tenant: ${expected}`);
  }

  return v1Match ? '1.0' : '2.0';
}

/** Reads `appid` (v1 tokens) or `azp` (v2 tokens), falling back to the other claim. */
function readApplicationId(claims: JWTPayload, tokenVersion: '1.0' | '2.0'): string {
  const appid = readOptionalString(claims, 'appid');
  const azp = readOptionalString(claims, 'azp');
  const applicationId = tokenVersion === '1.0' ? (appid ?? azp) : (azp ?? appid);

  return applicationId === undefined || applicationId === ''
    ? UNKNOWN_APPLICATION
    : applicationId.toLowerCase();
}

/** Reads delegated scopes (`scp`, one space-separated string) and app roles (`roles`, an array). */
function readPermissions(claims: JWTPayload): ReadonlySet<string> {
  const permissions = new Set<string>();

  const scopes = claims.scp;
  if (scopes !== undefined) {
    if (typeof scopes !== 'string') {
      throw invalidToken('The "scp" claim of the access token must be a space-separated string.');
    }
    for (const scope of scopes.split(/\s+/)) {
      if (scope !== '') {
        permissions.add(scope.toLowerCase());
      }
    }
  }

  const roles = claims.roles;
  if (roles !== undefined) {
    if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) {
      throw invalidToken('The "roles" claim of the access token must be an array of strings.');
    }
    for (const role of roles) {
      permissions.add(role.toLowerCase());
    }
  }

  return permissions;
}

function readOptionalString(claims: JWTPayload, name: string): string | undefined {
  const value = claims[name];
  if (value !== undefined && typeof value !== 'string') {
    throw invalidToken(`The "${name}" claim of the access token must be a string.`);
  }

  return value;
}
