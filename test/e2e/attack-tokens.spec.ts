import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type CryptoKey,
  type JWK,
} from 'jose';

import {
  assembleToken,
  buildClaims,
  issuerFor,
  nowInSeconds,
  type TestClaims,
} from '../auth/token-factory.js';
import type { HttpResponse } from '../support/http-client.js';
import {
  COLLECTION,
  READ,
  READ_WRITE,
  queryDatabase,
  startTestApp,
  type TestApp,
} from '../support/test-app.js';

/** The tolerance the service is started with, so the expiry cases sit just inside or outside. */
const TOLERANCE_SECONDS = 60;
/** Distance from the tolerance edge, large enough that a slow test run stays on the same side. */
const EDGE_MARGIN_SECONDS = 10;

const TENANT = randomUUID();
const OTHER_ALLOWED_TENANT = randomUUID();
const FOREIGN_TENANT = randomUUID();

const BODY = { deviceName: 'attack-probe', endpointAnalyticsScore: 50 };

/** An attacker's own key pair and a loopback server that records requests for its JWKS. */
interface Attacker {
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
  server: Server;
  /** URL paths requested from the attacker's server. */
  requests: string[];
  url(path: string): string;
}

async function startAttacker(): Promise<Attacker> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const exported = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported);
  const publicJwk: JWK = { ...exported, kid, alg: 'RS256', use: 'sig' };
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: [publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    privateKey,
    publicJwk,
    kid,
    server,
    requests,
    url: (path) => `http://127.0.0.1:${port}${path}`,
  };
}

/** Signs `header.claims` with HMAC-SHA256 under `secret`, as an algorithm-confusion forger would. */
function signHs256(header: Record<string, unknown>, claims: TestClaims, secret: Buffer): string {
  const unsigned = assembleToken(header, claims).slice(0, -1);
  const signature = createHmac('sha256', secret).update(unsigned).digest('base64url');

  return `${unsigned}.${signature}`;
}

function expectGraphError(response: HttpResponse, status: number, code: string): void {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = response.json();
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.innerError['request-id']).toBe(response.headers['request-id']);
  if (status === 401) {
    expect(response.headers['www-authenticate']).toBe('Bearer realm=""');
  } else {
    expect(response.headers['www-authenticate']).toBeUndefined();
  }
}

describe('attacks with forged and malformed access tokens', () => {
  let service: TestApp;
  let attacker: Attacker;

  beforeAll(async () => {
    service = await startTestApp({
      AUTH_CLOCK_TOLERANCE_SECONDS: String(TOLERANCE_SECONDS),
      AUTH_ALLOWED_TENANTS: `${TENANT},${OTHER_ALLOWED_TENANT}`,
      THROTTLE_REQUESTS: '100000',
      THROTTLE_WRITES: '100000',
    });
    attacker = await startAttacker();
  });

  afterAll(async () => {
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = ANY($1::uuid[])', [
      [TENANT, OTHER_ALLOWED_TENANT, FOREIGN_TENANT],
    ]);
    await new Promise((resolve) => attacker.server.close(resolve));
    await service.close();
  });

  /** Claims of a read-write token for TENANT, with `overrides` merged over them. */
  function claims(overrides: TestClaims = {}): TestClaims {
    return buildClaims({ tid: TENANT, scp: READ_WRITE, ...overrides });
  }

  function mint(overrides: TestClaims = {}): Promise<string> {
    return service.issuer.mint({ tid: TENANT, scp: READ_WRITE, ...overrides });
  }

  async function countRowsWithId(id: string): Promise<number> {
    const rows = await queryDatabase<{ count: number }>(
      'SELECT count(*)::int AS count FROM device_scores WHERE id = $1',
      [id],
    );

    return rows[0].count;
  }

  /**
   * Sends a list and a create with the token, checks that both get `status` with `code`, and
   * that the create stored nothing in any tenant.
   */
  async function expectRejectedEverywhere(
    token: string,
    status: number,
    code: string,
  ): Promise<void> {
    const list = await service.request({ method: 'GET', url: COLLECTION, token });
    expectGraphError(list, status, code);

    const id = randomUUID();
    const create = await service.request({
      method: 'POST',
      url: COLLECTION,
      payload: { ...BODY, id },
      token,
    });
    expectGraphError(create, status, code);
    expect(await countRowsWithId(id)).toBe(0);
  }

  describe('unsigned tokens', () => {
    test.each(['none', 'None', 'NONE', 'nOnE'])(
      'alg %s with empty signature is 401',
      async (alg) => {
        const token = assembleToken({ alg, typ: 'JWT', kid: service.issuer.kid }, claims(), '');

        await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
      },
    );

    test('alg none without kid is 401', async () => {
      const token = assembleToken({ alg: 'none', typ: 'JWT' }, claims(), '');

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('valid token with signature stripped is 401', async () => {
      const signed = await mint();
      const stripped = signed.slice(0, signed.lastIndexOf('.') + 1);

      await expectRejectedEverywhere(stripped, 401, 'InvalidAuthenticationToken');
    });
  });

  describe('HMAC keyed with the public key', () => {
    async function publicKeySecrets(): Promise<Record<string, Buffer>> {
      const pem = await exportSPKI(service.issuer.publicKey);
      const der = Buffer.from(
        pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, ''),
        'base64',
      );

      return {
        'SPKI PEM text': Buffer.from(pem),
        'SPKI PEM text without final newline': Buffer.from(pem.trimEnd()),
        'SPKI DER bytes': der,
        'JWK JSON text': Buffer.from(JSON.stringify(service.issuer.publicJwk)),
        'JWKS JSON text': Buffer.from(JSON.stringify(service.issuer.jwks)),
        'JWK modulus bytes': Buffer.from(service.issuer.publicJwk.n ?? '', 'base64url'),
      };
    }

    test.each(['HS256', 'HS384', 'HS512'])('%s with every public key form is 401', async (alg) => {
      const secrets = await publicKeySecrets();

      for (const [form, secret] of Object.entries(secrets)) {
        const header = { alg, typ: 'JWT', kid: service.issuer.kid };
        const token =
          alg === 'HS256'
            ? signHs256(header, claims(), secret)
            : await service.issuer.mint(
                { tid: TENANT, scp: READ_WRITE },
                { header: { alg }, signingKey: new Uint8Array(secret) },
              );
        const response = await service.request({ method: 'GET', url: COLLECTION, token });

        expect({ form, status: response.statusCode }).toEqual({ form, status: 401 });
      }
      const token = signHs256(
        { alg: 'HS256', typ: 'JWT', kid: service.issuer.kid },
        claims(),
        secrets['SPKI PEM text'],
      );
      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });
  });

  describe('key selection', () => {
    test('unknown kid is 401', async () => {
      const token = await mint();
      const forged = await service.issuer.mint(
        { tid: TENANT, scp: READ_WRITE },
        { header: { kid: 'no-such-key' } },
      );

      expect((await service.request({ method: 'GET', url: COLLECTION, token })).statusCode).toBe(
        200,
      );
      await expectRejectedEverywhere(forged, 401, 'InvalidAuthenticationToken');
    });

    test('missing kid is 401', async () => {
      const token = await service.issuer.mint(
        { tid: TENANT, scp: READ_WRITE },
        { header: { kid: undefined } },
      );

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('attacker key under the trusted kid is 401', async () => {
      const token = await service.issuer.mint(
        { tid: TENANT, scp: READ_WRITE },
        { signingKey: attacker.privateKey },
      );

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test.each(['jku', 'x5u'])('%s header is never fetched', async (parameter) => {
      attacker.requests.length = 0;
      const ownKid = await service.issuer.mint(
        { tid: TENANT, scp: READ_WRITE },
        {
          header: { kid: attacker.kid, [parameter]: attacker.url(`/${parameter}/own-kid`) },
          signingKey: attacker.privateKey,
        },
      );
      const trustedKid = await service.issuer.mint(
        { tid: TENANT, scp: READ_WRITE },
        {
          header: { [parameter]: attacker.url(`/${parameter}/trusted-kid`) },
          signingKey: attacker.privateKey,
        },
      );

      await expectRejectedEverywhere(ownKid, 401, 'InvalidAuthenticationToken');
      await expectRejectedEverywhere(trustedKid, 401, 'InvalidAuthenticationToken');
      expect(attacker.requests).toEqual([]);
    });

    test('embedded jwk header with attacker key is 401', async () => {
      const ownKid = await service.issuer.mint(
        { tid: TENANT, scp: READ_WRITE },
        {
          header: { kid: attacker.kid, jwk: attacker.publicJwk },
          signingKey: attacker.privateKey,
        },
      );
      const trustedKid = await service.issuer.mint(
        { tid: TENANT, scp: READ_WRITE },
        {
          header: { jwk: { ...attacker.publicJwk, kid: service.issuer.kid } },
          signingKey: attacker.privateKey,
        },
      );

      await expectRejectedEverywhere(ownKid, 401, 'InvalidAuthenticationToken');
      await expectRejectedEverywhere(trustedKid, 401, 'InvalidAuthenticationToken');
    });

    test('unknown critical header is 401', async () => {
      const token = await service.issuer.signRaw(
        {
          alg: 'RS256',
          typ: 'JWT',
          kid: service.issuer.kid,
          crit: ['eas-unknown'],
          'eas-unknown': 1,
        },
        claims(),
      );

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });
  });

  describe('lifetime with a tolerance of 60 seconds', () => {
    const inside = TOLERANCE_SECONDS - EDGE_MARGIN_SECONDS;
    const outside = TOLERANCE_SECONDS + EDGE_MARGIN_SECONDS;

    test('expired just inside tolerance is 200', async () => {
      const token = await mint({ exp: nowInSeconds() - inside, nbf: nowInSeconds() - 3600 });

      expect((await service.request({ method: 'GET', url: COLLECTION, token })).statusCode).toBe(
        200,
      );
    });

    test('expired just outside tolerance is 401', async () => {
      const token = await mint({ exp: nowInSeconds() - outside, nbf: nowInSeconds() - 3600 });

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('not yet valid just inside tolerance is 200', async () => {
      const token = await mint({ nbf: nowInSeconds() + inside, iat: nowInSeconds() + inside });

      expect((await service.request({ method: 'GET', url: COLLECTION, token })).statusCode).toBe(
        200,
      );
    });

    test('not yet valid just outside tolerance is 401', async () => {
      const token = await mint({ nbf: nowInSeconds() + outside, iat: nowInSeconds() + outside });

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('numeric dates beyond the Date range are 401', async () => {
      const token = await mint({ exp: 1e300, nbf: -1e300, iat: -1e300 });
      const response = await service.request({ method: 'GET', url: COLLECTION, token });

      expect(response.statusCode).toBe(401);
      expect(response.json().error.code).toBe('InvalidAuthenticationToken');
    });

    test('missing exp is 401', async () => {
      await expectRejectedEverywhere(
        await mint({ exp: undefined }),
        401,
        'InvalidAuthenticationToken',
      );
    });

    test.each([
      ['exp as text', { exp: String(nowInSeconds() + 3600) }],
      ['nbf as text', { nbf: String(nowInSeconds() - 60) }],
      ['exp before the Date range', { exp: -1e300 }],
    ])('%s is 401', async (_case, overrides) => {
      await expectRejectedEverywhere(await mint(overrides), 401, 'InvalidAuthenticationToken');
    });
  });

  describe('audience and issuer', () => {
    test.each([
      ['another application', 'api://some-other-app'],
      ['the audience with a trailing slash', 'api://eas-service/'],
      ['the audience in upper case', 'API://EAS-SERVICE'],
      ['an empty audience', ''],
    ])('aud of %s is 401', async (_case, aud) => {
      await expectRejectedEverywhere(await mint({ aud }), 401, 'InvalidAuthenticationToken');
    });

    test('missing aud is 401', async () => {
      await expectRejectedEverywhere(
        await mint({ aud: undefined }),
        401,
        'InvalidAuthenticationToken',
      );
    });

    test.each([
      ['another host', `https://login.evil.example/${TENANT}/v2.0`],
      ['plain http', `http://login.microsoftonline.com/${TENANT}/v2.0`],
      ['a trailing slash on v2', `https://login.microsoftonline.com/${TENANT}/v2.0/`],
      ['no trailing slash on v1', `https://sts.windows.net/${TENANT}`],
      ['the common endpoint', 'https://login.microsoftonline.com/common/v2.0'],
      ['a host suffix', `https://login.microsoftonline.com.evil.example/${TENANT}/v2.0`],
      ['the tenant of another allowed tenant', issuerFor(OTHER_ALLOWED_TENANT)],
      ['the tenant of another allowed tenant in v1 form', issuerFor(OTHER_ALLOWED_TENANT, 1)],
    ])('iss of %s is 401', async (_case, iss) => {
      await expectRejectedEverywhere(await mint({ iss }), 401, 'InvalidAuthenticationToken');
    });

    test('missing iss is 401', async () => {
      await expectRejectedEverywhere(
        await mint({ iss: undefined }),
        401,
        'InvalidAuthenticationToken',
      );
    });

    test('v1 and v2 issuers of the token tenant are 200', async () => {
      for (const version of [1, 2] as const) {
        const token = await service.issuer.mint(
          { tid: TENANT, scp: READ },
          { issuerVersion: version },
        );
        const response = await service.request({ method: 'GET', url: COLLECTION, token });

        expect({ version, status: response.statusCode }).toEqual({ version, status: 200 });
      }
    });
  });

  describe('tenant claim', () => {
    test('issuer of one tenant with tid of another is 401', async () => {
      const token = await mint({ iss: issuerFor(TENANT), tid: OTHER_ALLOWED_TENANT });

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('tenant outside AUTH_ALLOWED_TENANTS is 401', async () => {
      const token = await mint({ tid: FOREIGN_TENANT, iss: issuerFor(FOREIGN_TENANT) });

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('missing tid is 401', async () => {
      await expectRejectedEverywhere(
        await mint({ tid: undefined }),
        401,
        'InvalidAuthenticationToken',
      );
    });

    test.each([
      ['a tenant name', 'contoso.onmicrosoft.com'],
      ['common', 'common'],
      ['a number', 42],
      ['an array', [TENANT]],
      ['a GUID with braces', `{${TENANT}}`],
    ])('tid as %s is 401', async (_case, tid) => {
      const token = await mint({ tid, iss: issuerFor(TENANT) });

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('allowed tenant in upper case is 200', async () => {
      const upper = TENANT.toUpperCase();
      const token = await mint({ tid: upper, iss: issuerFor(upper) });
      const response = await service.request({ method: 'GET', url: COLLECTION, token });

      expect(response.statusCode).toBe(200);
    });
  });

  describe('permission claims', () => {
    test('roles as a string is 401', async () => {
      const token = await mint({ scp: undefined, roles: READ_WRITE });

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('scp as an array is 401', async () => {
      const token = await mint({ scp: [READ_WRITE] });

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test('roles with a non-string member is 401', async () => {
      const token = await mint({ scp: undefined, roles: [READ_WRITE, 7] });

      await expectRejectedEverywhere(token, 401, 'InvalidAuthenticationToken');
    });

    test.each([
      ['a suffix', 'DeviceManagementManagedDevices.ReadWrite.AllX'],
      ['a prefix', 'XDeviceManagementManagedDevices.ReadWrite.All'],
      ['a missing part', 'DeviceManagementManagedDevices.ReadWrite'],
      ['a comma list', `User.Read,${READ_WRITE}`],
      ['a quoted name', `"${READ_WRITE}"`],
      ['an unrelated permission', 'User.Read'],
      ['no permission', ''],
    ])('scp with %s is 403', async (_case, scp) => {
      await expectRejectedEverywhere(await mint({ scp }), 403, 'Forbidden');
    });

    test.each([
      ['Read.AllX', 'DeviceManagementManagedDevices.Read.AllX'],
      ['XDevice prefix', 'XDeviceManagementManagedDevices.Read.All'],
    ])('read with near-miss scope %s is 403', async (_case, scp) => {
      const token = await mint({ scp });
      const response = await service.request({ method: 'GET', url: COLLECTION, token });

      expectGraphError(response, 403, 'Forbidden');
    });

    test('roles with a near-miss name is 403', async () => {
      const token = await mint({
        scp: undefined,
        roles: [`${READ_WRITE} `, `${READ_WRITE}X`, 'DeviceManagementManagedDevices'],
      });

      await expectRejectedEverywhere(token, 403, 'Forbidden');
    });

    test('neither scp nor roles is 403', async () => {
      await expectRejectedEverywhere(await mint({ scp: undefined }), 403, 'Forbidden');
    });

    test('read-only scope cannot create', async () => {
      const id = randomUUID();
      const token = await mint({ scp: READ });
      const response = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, id },
        token,
      });

      expectGraphError(response, 403, 'Forbidden');
      expect(await countRowsWithId(id)).toBe(0);
    });

    test('lower-case scope is 200', async () => {
      const token = await mint({ scp: `openid ${READ.toLowerCase()}` });
      const response = await service.request({ method: 'GET', url: COLLECTION, token });

      expect(response.statusCode).toBe(200);
    });

    test('upper-case role creates', async () => {
      const id = randomUUID();
      const token = await mint({ scp: undefined, roles: [READ_WRITE.toUpperCase()] });
      const response = await service.request({
        method: 'POST',
        url: COLLECTION,
        payload: { ...BODY, id },
        token,
      });

      expect(response.statusCode).toBe(201);
      expect(await countRowsWithId(id)).toBe(1);
    });
  });

  describe('Authorization header', () => {
    test('missing header is 401', async () => {
      const list = await service.request({ method: 'GET', url: COLLECTION, token: null });

      expectGraphError(list, 401, 'InvalidAuthenticationToken');
    });

    test.each([
      ['another scheme', (token: string) => `Basic ${token}`],
      ['no token', () => 'Bearer'],
      ['two tokens', (token: string) => `Bearer ${token} ${token}`],
      ['a comma after the token', (token: string) => `Bearer ${token},`],
      ['garbage', () => 'Bearer a.b.c'],
      ['a token of dots', () => 'Bearer ...'],
      ['a JSON header part', () => 'Bearer {"alg":"none"}.e30.'],
      ['a two-part token', (token: string) => `Bearer ${token.split('.').slice(0, 2).join('.')}`],
    ])('header with %s is 401', async (_case, header) => {
      const token = await mint();
      const response = await service.request({
        method: 'GET',
        url: COLLECTION,
        token: null,
        headers: { authorization: header(token) },
      });

      expectGraphError(response, 401, 'InvalidAuthenticationToken');
    });

    test('lower-case scheme is accepted', async () => {
      const token = await mint({ scp: READ });
      const response = await service.request({
        method: 'GET',
        url: COLLECTION,
        token: null,
        headers: { authorization: `bearer ${token}` },
      });

      expect(response.statusCode).toBe(200);
    });
  });
});
