import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Logger } from '@nestjs/common';
import { CompactSign, exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';

import { readJwksFile } from '../../src/auth/key-source.js';
import {
  assertPermitted,
  READ_PERMISSIONS,
  WRITE_PERMISSIONS,
} from '../../src/auth/permissions.js';
import { TokenVerifier, type TokenVerifierOptions } from '../../src/auth/token-verifier.js';
import { GraphErrorCode } from '../../src/odata/http/graph-error.js';
import { catchGraphException, expectInvalidToken } from './expect-graph-exception.js';
import {
  assembleToken,
  buildClaims,
  CONFIGURATION_READ_ALL,
  createTestIssuer,
  issuerFor,
  nowInSeconds,
  OTHER_APP_ID,
  READ_ALL,
  READ_WRITE_ALL,
  T1,
  T2,
  T3,
  TEST_APP_ID,
  TEST_AUDIENCE,
  type TestIssuer,
} from './token-factory.js';

let issuer: TestIssuer;
let verifier: TokenVerifier;

async function createVerifier(
  overrides: Partial<TokenVerifierOptions> = {},
): Promise<TokenVerifier> {
  return new TokenVerifier({
    audience: TEST_AUDIENCE,
    allowedTenants: new Set([T1, T2]),
    clockToleranceSeconds: 60,
    keys: { kind: 'local', jwks: await readJwksFile(issuer.jwksPath) },
    ...overrides,
  });
}

function bearer(token: string): string {
  return `Bearer ${token}`;
}

beforeAll(async () => {
  Logger.overrideLogger(false);
  issuer = await createTestIssuer();
  verifier = await createVerifier();
});

afterAll(async () => {
  await issuer.cleanup();
});

describe('TokenVerifier with a valid token', () => {
  it('returns the principal of a v2 token', async () => {
    const token = await issuer.mint({ scp: READ_ALL, sub: 'user-1' });

    const principal = await verifier.verify(bearer(token));

    expect(principal.tenantId).toBe(T1);
    expect(principal.applicationId).toBe(TEST_APP_ID);
    expect(principal.subject).toBe('user-1');
    expect(principal.tokenVersion).toBe('2.0');
    expect([...principal.permissions]).toEqual([READ_ALL.toLowerCase()]);
  });

  it('reads appid from a v1 token', async () => {
    const token = await issuer.mint(
      { scp: READ_ALL, appid: OTHER_APP_ID.toUpperCase() },
      { issuerVersion: 1 },
    );

    const principal = await verifier.verify(bearer(token));

    expect(principal.tokenVersion).toBe('1.0');
    expect(principal.applicationId).toBe(OTHER_APP_ID);
    expect(principal.tenantId).toBe(T1);
  });

  it('compares tenant GUIDs case-insensitively', async () => {
    const tenant = 'abcdef12-3456-4789-abcd-ef1234567890';
    const anyTenant = await createVerifier({ allowedTenants: '*' });
    const upperIssuer = await issuer.mint({ tid: tenant, iss: issuerFor(tenant.toUpperCase()) });
    const upperTid = await issuer.mint({ tid: tenant.toUpperCase(), iss: issuerFor(tenant) });

    await expect(anyTenant.verify(bearer(upperIssuer))).resolves.toMatchObject({
      tenantId: tenant,
    });
    await expect(anyTenant.verify(bearer(upperTid))).resolves.toMatchObject({ tenantId: tenant });
  });

  it('accepts any case of the Bearer scheme', async () => {
    const token = await issuer.mint({ scp: READ_ALL });

    await expect(verifier.verify(`bearer ${token}`)).resolves.toMatchObject({ tenantId: T1 });
    await expect(verifier.verify(`BEARER ${token}`)).resolves.toMatchObject({ tenantId: T1 });
  });

  it('falls back to unknown without azp and appid', async () => {
    const token = await issuer.mint({ azp: undefined });

    const principal = await verifier.verify(bearer(token));

    expect(principal.applicationId).toBe('unknown');
  });

  it('leaves subject out when sub is absent', async () => {
    const principal = await verifier.verify(bearer(await issuer.mint()));

    expect(principal.subject).toBeUndefined();
    expect('subject' in principal).toBe(false);
  });

  it('accepts an audience array', async () => {
    const token = await issuer.mint({ aud: ['api://other', TEST_AUDIENCE] });

    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ tenantId: T1 });
  });

  it('accepts any tenant when allowedTenants is *', async () => {
    const anyTenant = await createVerifier({ allowedTenants: '*' });
    const token = await issuer.mint({ tid: T3 });

    await expect(anyTenant.verify(bearer(token))).resolves.toMatchObject({ tenantId: T3 });
  });

  it.each(['ES256', 'PS256', 'EdDSA'] as const)('accepts a token signed with %s', async (alg) => {
    const otherIssuer = await createTestIssuer(alg);
    try {
      const otherVerifier = new TokenVerifier({
        audience: TEST_AUDIENCE,
        allowedTenants: '*',
        clockToleranceSeconds: 0,
        keys: { kind: 'local', jwks: await readJwksFile(otherIssuer.jwksPath) },
      });
      const token = await otherIssuer.mint({ scp: READ_ALL });

      await expect(otherVerifier.verify(bearer(token))).resolves.toMatchObject({ tenantId: T1 });
    } finally {
      await otherIssuer.cleanup();
    }
  });
});

describe('TokenVerifier Authorization header', () => {
  it('rejects a missing header', async () => {
    await expectInvalidToken(verifier.verify(undefined), /Authorization header is missing/);
  });

  it('rejects an empty header', async () => {
    await expectInvalidToken(verifier.verify('   '), /Authorization header is missing/);
  });

  it('rejects another scheme', async () => {
    const token = await issuer.mint({ scp: READ_ALL });

    await expectInvalidToken(verifier.verify(`Basic ${token}`), /Bearer scheme/, token);
    await expectInvalidToken(verifier.verify(token), /Bearer scheme/, token);
  });

  it('rejects the scheme without a token', async () => {
    await expectInvalidToken(verifier.verify('Bearer'), /no access token/);
  });

  it('rejects two tokens', async () => {
    const token = await issuer.mint({ scp: READ_ALL });

    await expectInvalidToken(verifier.verify(`Bearer ${token} ${token}`), /exactly one/, token);
    await expectInvalidToken(
      verifier.verify(`Bearer ${token}, Bearer ${token}`),
      /exactly one/,
      token,
    );
  });

  it.each(['not-a-jwt', 'a.b.c', '...', 'eyJhbGciOiJSUzI1NiJ9.e30', 'e30.e30.e30.e30'])(
    'rejects the garbage token %s',
    async (garbage) => {
      await expectInvalidToken(verifier.verify(bearer(garbage)), /malformed|invalid|kid/i);
    },
  );

  it('rejects a signed payload that is not JSON', async () => {
    const token = await new CompactSign(new TextEncoder().encode('not json'))
      .setProtectedHeader({ alg: 'RS256', kid: issuer.kid })
      .sign(issuer.privateKey);

    await expectInvalidToken(verifier.verify(bearer(token)), /malformed/, token);
  });

  it('rejects a signed payload that is a JSON array', async () => {
    const token = await new CompactSign(new TextEncoder().encode('[1,2]'))
      .setProtectedHeader({ alg: 'RS256', kid: issuer.kid })
      .sign(issuer.privateKey);

    await expectInvalidToken(verifier.verify(bearer(token)), /malformed/, token);
  });
});

describe('TokenVerifier algorithms and keys', () => {
  it.each(['none', 'None', 'NONE'])('rejects alg %s with an empty signature', async (alg) => {
    const token = assembleToken({ alg, typ: 'JWT' }, buildClaims({ scp: READ_ALL }));

    await expectInvalidToken(verifier.verify(bearer(token)), /not accepted/, token);
  });

  it('rejects alg none that names a trusted kid', async () => {
    const token = assembleToken(
      { alg: 'none', typ: 'JWT', kid: issuer.kid },
      buildClaims({ scp: READ_ALL }),
    );

    await expectInvalidToken(verifier.verify(bearer(token)), /not accepted/, token);
  });

  it('rejects HS256 keyed with the public key', async () => {
    const claims = buildClaims({ scp: READ_ALL });
    const secrets = [
      new TextEncoder().encode(await exportSPKI(issuer.publicKey)),
      new TextEncoder().encode(JSON.stringify(issuer.publicJwk)),
      Buffer.from(issuer.publicJwk.n as string, 'base64url'),
    ];

    for (const secret of secrets) {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: issuer.kid })
        .sign(secret);

      await expectInvalidToken(verifier.verify(bearer(token)), /not accepted/, token);
    }
  });

  it('rejects a token without kid', async () => {
    const token = await issuer.mint({ scp: READ_ALL }, { header: { kid: undefined } });

    await expectInvalidToken(verifier.verify(bearer(token)), /no "kid"/, token);
  });

  it('rejects an unknown kid', async () => {
    const token = await issuer.mint({ scp: READ_ALL }, { header: { kid: 'some-other-key' } });

    await expectInvalidToken(verifier.verify(bearer(token)), /kid.*unknown/, token);
  });

  it('rejects another key under the trusted kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const token = await issuer.mint({ scp: READ_ALL }, { signingKey: privateKey });

    await expectInvalidToken(verifier.verify(bearer(token)), /signature is invalid/, token);
  });

  it('rejects a changed payload', async () => {
    const token = await issuer.mint({ scp: READ_ALL });
    const [header, , signature] = token.split('.');
    const payload = Buffer.from(JSON.stringify(buildClaims({ scp: READ_WRITE_ALL }))).toString(
      'base64url',
    );
    const tampered = `${header}.${payload}.${signature}`;

    await expectInvalidToken(verifier.verify(bearer(tampered)), /signature is invalid/, tampered);
  });

  it('rejects an unknown critical header', async () => {
    const header = {
      alg: 'RS256',
      kid: issuer.kid,
      crit: ['urn:example:unknown'],
      'urn:example:unknown': true,
    };
    const token = await issuer.signRaw(header, buildClaims({ scp: READ_ALL }));

    await expectInvalidToken(verifier.verify(bearer(token)), /not supported/, token);
  });

  it('accepts a token signed without jose', async () => {
    const header = { alg: 'RS256', typ: 'JWT', kid: issuer.kid };
    const token = await issuer.signRaw(header, buildClaims({ scp: READ_ALL }));

    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ tenantId: T1 });
  });
});

describe('TokenVerifier ignores keys named by the token', () => {
  let server: Server;
  let requests = 0;
  let keyServerUrl: string;

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests += 1;
      response.writeHead(500).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    keyServerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it.each(['jku', 'x5u', 'jwk', 'x5c'])(
    'rejects an attacker key in the %s header',
    async (parameter) => {
      const attacker = await generateKeyPair('RS256', { extractable: true });
      const attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: issuer.kid };
      const headerValues: Record<string, unknown> = {
        jku: `${keyServerUrl}/jwks.json`,
        x5u: `${keyServerUrl}/cert.pem`,
        jwk: attackerJwk,
        x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'],
      };
      const token = await issuer.mint(
        { scp: READ_WRITE_ALL },
        { header: { [parameter]: headerValues[parameter] }, signingKey: attacker.privateKey },
      );

      await expectInvalidToken(verifier.verify(bearer(token)), /signature is invalid/, token);
      expect(requests).toBe(0);
    },
  );

  it('rejects a kid known only at jku', async () => {
    const attacker = await generateKeyPair('RS256');
    const token = await issuer.mint(
      { scp: READ_WRITE_ALL },
      {
        header: { kid: 'attacker-key', jku: `${keyServerUrl}/jwks.json` },
        signingKey: attacker.privateKey,
      },
    );

    await expectInvalidToken(verifier.verify(bearer(token)), /kid.*unknown/, token);
    expect(requests).toBe(0);
  });
});

describe('TokenVerifier time, audience and issuer claims with 60 s tolerance', () => {
  const now = nowInSeconds;

  it('rejects exp = now-600', async () => {
    const token = await issuer.mint({ scp: READ_ALL, exp: now() - 600 });

    await expectInvalidToken(verifier.verify(bearer(token)), /expired at/, token);
  });

  it('rejects a token without exp', async () => {
    const token = await issuer.mint({ scp: READ_ALL, exp: undefined });

    await expectInvalidToken(verifier.verify(bearer(token)), /no "exp" claim/, token);
  });

  it('rejects nbf = now+600', async () => {
    const token = await issuer.mint({ scp: READ_ALL, nbf: now() + 600 });

    await expectInvalidToken(verifier.verify(bearer(token)), /not valid before/, token);
  });

  it('accepts nbf = now+20 within the tolerance', async () => {
    const token = await issuer.mint({ scp: READ_ALL, nbf: now() + 20 });

    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ tenantId: T1 });
  });

  it('accepts exp = now-20 within the tolerance', async () => {
    const token = await issuer.mint({ scp: READ_ALL, exp: now() - 20 });

    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ tenantId: T1 });
  });

  it('rejects exp = now-20 without tolerance', async () => {
    const strict = await createVerifier({ clockToleranceSeconds: 0 });
    const token = await issuer.mint({ scp: READ_ALL, exp: now() - 20 });

    await expectInvalidToken(strict.verify(bearer(token)), /expired/, token);
  });

  it('rejects aud = api://some-other-app', async () => {
    const token = await issuer.mint({ scp: READ_ALL, aud: 'api://some-other-app' });

    const exception = await expectInvalidToken(verifier.verify(bearer(token)), /audience/, token);
    expect(exception.message).toContain(TEST_AUDIENCE);
  });

  it('rejects a token without aud', async () => {
    const token = await issuer.mint({ scp: READ_ALL, aud: undefined });

    await expectInvalidToken(verifier.verify(bearer(token)), /"aud"/, token);
  });

  it('rejects a tenant that is not onboarded', async () => {
    const token = await issuer.mint({ scp: READ_ALL, tid: T3 });

    await expectInvalidToken(verifier.verify(bearer(token)), /tenant 3333.* not accepted/, token);
  });

  it('rejects iss for T1 with tid T2', async () => {
    const token = await issuer.mint({ scp: READ_ALL, tid: T2, iss: issuerFor(T1) });

    await expectInvalidToken(verifier.verify(bearer(token)), /issuer does not match/, token);
  });

  it('rejects a v1 iss for T1 with tid T2', async () => {
    const token = await issuer.mint({ scp: READ_ALL, tid: T2, iss: issuerFor(T1, 1) });

    await expectInvalidToken(verifier.verify(bearer(token)), /issuer does not match/, token);
  });

  it.each([
    ['another host', `https://login.example.com/${T1}/v2.0`],
    ['http', `http://login.microsoftonline.com/${T1}/v2.0`],
    ['a trailing slash on v2', `https://login.microsoftonline.com/${T1}/v2.0/`],
    ['no trailing slash on v1', `https://sts.windows.net/${T1}`],
    ['a tenant name', 'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0'],
    ['the common endpoint', 'https://login.microsoftonline.com/common/v2.0'],
  ])('rejects an issuer with %s', async (_, iss) => {
    const token = await issuer.mint({ scp: READ_ALL, iss });

    await expectInvalidToken(verifier.verify(bearer(token)), /issuer/, token);
  });

  it('rejects a token without iss', async () => {
    const token = await issuer.mint({ scp: READ_ALL, iss: undefined });

    await expectInvalidToken(verifier.verify(bearer(token)), /"iss"/, token);
  });

  it('rejects exp given as a string', async () => {
    const token = await issuer.mint({ scp: READ_ALL, exp: String(now() + 3600) });

    await expectInvalidToken(verifier.verify(bearer(token)), /"exp" claim .* must be a number/);
  });

  it('rejects nbf given as a string', async () => {
    const token = await issuer.mint({ scp: READ_ALL, nbf: 'yesterday' });

    await expectInvalidToken(verifier.verify(bearer(token)), /"nbf" claim .* must be a number/);
  });
});

describe('TokenVerifier tenant claim', () => {
  it('rejects a token without tid', async () => {
    const token = await issuer.mint({ scp: READ_ALL, tid: undefined });

    await expectInvalidToken(verifier.verify(bearer(token)), /"tid"/, token);
  });

  it.each(['contoso.onmicrosoft.com', '1111111-1111-1111-1111-111111111111', 'common', ''])(
    'rejects tid %p, which is not a GUID',
    async (tid) => {
      const token = await issuer.mint({
        scp: READ_ALL,
        tid,
        iss: `https://login.microsoftonline.com/${tid}/v2.0`,
      });

      await expectInvalidToken(verifier.verify(bearer(token)), /"tid" claim .* GUID/, token);
    },
  );

  it('rejects a tid that is a number', async () => {
    const token = await issuer.mint({ scp: READ_ALL, tid: 42, iss: issuerFor(T1) });

    await expectInvalidToken(verifier.verify(bearer(token)), /"tid" claim .* GUID/, token);
  });
});

describe('TokenVerifier permission claims', () => {
  async function verifyClaims(claims: Record<string, unknown>): Promise<ReadonlySet<string>> {
    const principal = await verifier.verify(bearer(await issuer.mint(claims)));

    return principal.permissions;
  }

  it('splits and lower-cases scp', async () => {
    const permissions = await verifyClaims({ scp: `openid  profile ${READ_ALL}` });

    expect([...permissions]).toEqual(['openid', 'profile', READ_ALL.toLowerCase()]);
  });

  it('reads roles without scp', async () => {
    const permissions = await verifyClaims({ roles: [READ_WRITE_ALL] });

    expect([...permissions]).toEqual([READ_WRITE_ALL.toLowerCase()]);
  });

  it('returns no permissions without scp and roles', async () => {
    const permissions = await verifyClaims({});

    expect(permissions.size).toBe(0);
  });

  it('rejects roles given as a string', async () => {
    const token = await issuer.mint({ roles: READ_ALL });

    await expectInvalidToken(verifier.verify(bearer(token)), /"roles" claim .* array/, token);
  });

  it('rejects roles with a member that is not a string', async () => {
    const token = await issuer.mint({ roles: [READ_ALL, 7] });

    await expectInvalidToken(verifier.verify(bearer(token)), /"roles" claim .* array/, token);
  });

  it('rejects scp given as an array', async () => {
    const token = await issuer.mint({ scp: [READ_ALL] });

    await expectInvalidToken(verifier.verify(bearer(token)), /"scp" claim .* string/, token);
  });

  it.each([
    ['azp', 12],
    ['appid', { id: 1 }],
    ['sub', 5],
  ])('rejects %s that is not a string', async (claim, value) => {
    const token = await issuer.mint({ scp: READ_ALL, [claim]: value });

    await expectInvalidToken(verifier.verify(bearer(token)), new RegExp(`"${claim}"`), token);
  });
});

describe('TokenVerifier with assertPermitted', () => {
  async function permissionOutcome(
    claims: Record<string, unknown>,
    accepted: readonly string[],
  ): Promise<number> {
    try {
      const principal = await verifier.verify(bearer(await issuer.mint(claims)));
      assertPermitted(principal, accepted);

      return 200;
    } catch (error) {
      return (error as { status: number }).status;
    }
  }

  it.each([
    ['T_R read', 200, { scp: READ_ALL }, READ_PERMISSIONS],
    ['T_CFG read', 200, { scp: CONFIGURATION_READ_ALL }, READ_PERMISSIONS],
    ['T_APP read', 200, { roles: [READ_WRITE_ALL] }, READ_PERMISSIONS],
    ['User.Read only', 403, { scp: 'User.Read' }, READ_PERMISSIONS],
    ['T_R write', 403, { scp: READ_ALL }, WRITE_PERMISSIONS],
    ['openid profile plus read', 200, { scp: `openid profile ${READ_ALL}` }, READ_PERMISSIONS],
    ['T_APP write', 200, { roles: [READ_WRITE_ALL] }, WRITE_PERMISSIONS],
    ['neither scp nor roles', 403, {}, READ_PERMISSIONS],
    ['a suffix added to the name', 403, { scp: `${READ_ALL}X` }, READ_PERMISSIONS],
    ['a prefix added to the name', 403, { scp: `X${READ_ALL}` }, READ_PERMISSIONS],
    ['roles as a string', 401, { roles: READ_ALL }, READ_PERMISSIONS],
    ['the name in lower case', 200, { scp: READ_ALL.toLowerCase() }, READ_PERMISSIONS],
    ['T2_RW write', 200, { scp: READ_WRITE_ALL, tid: T2 }, WRITE_PERMISSIONS],
  ] as const)('%s gives %d', async (_, status, claims, accepted) => {
    await expect(permissionOutcome(claims, accepted)).resolves.toBe(status);
  });

  it('lists the accepted permissions in the 403', async () => {
    const principal = await verifier.verify(bearer(await issuer.mint({ scp: 'User.Read' })));

    const exception = await catchGraphException(
      Promise.resolve().then(() => assertPermitted(principal, WRITE_PERMISSIONS)),
    );

    expect(exception.code).toBe(GraphErrorCode.Forbidden);
    expect(exception.status).toBe(403);
    for (const permission of WRITE_PERMISSIONS) {
      expect(exception.message).toContain(permission);
    }
  });
});

describe('TokenVerifier options', () => {
  it('rejects allowed tenants that are not GUIDs', async () => {
    await expect(createVerifier({ allowedTenants: new Set(['contoso']) })).rejects.toThrow(/GUID/);
  });

  it('matches allowed tenants in any case', async () => {
    const upper = await createVerifier({ allowedTenants: new Set([T2.toUpperCase()]) });
    const token = await issuer.mint({ tid: T2 });

    await expect(upper.verify(bearer(token))).resolves.toMatchObject({ tenantId: T2 });
  });

  it('rejects a negative clock tolerance', async () => {
    await expect(createVerifier({ clockToleranceSeconds: -1 })).rejects.toThrow(RangeError);
  });
});

describe('TokenVerifier token lifetime', () => {
  it('rejects a token valid for more than a day', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await issuer.mint({ scp: READ_ALL, iat: now, exp: now + 2 * 24 * 3600 });

    await expectInvalidToken(verifier.verify(bearer(token)), /more than 24 hours/);
  });

  it('rejects a far-future exp without iat', async () => {
    const token = await issuer.mint({ scp: READ_ALL, iat: undefined, nbf: undefined, exp: 1e12 });

    await expectInvalidToken(verifier.verify(bearer(token)), /more than 24 hours/);
  });

  it('accepts a 90-minute token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await issuer.mint({ scp: READ_ALL, iat: now, exp: now + 90 * 60 });

    await expect(verifier.verify(bearer(token))).resolves.toMatchObject({ tenantId: T1 });
  });
});
