import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Logger } from '@nestjs/common';
import { exportJWK, generateKeyPair, generateSecret } from 'jose';

import {
  DEV_JWKS_FILE,
  DEV_PRIVATE_KEY_FILE,
  loadDevPublicJwks,
  loadDevSigningKey,
} from '../../src/auth/dev-keys.js';
import { mintDevToken } from '../../src/auth/dev-token.js';
import { parseJwksUri, readJwksFile, resolveKeySource } from '../../src/auth/key-source.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { createTestIssuer, T1, TEST_APP_ID, TEST_AUDIENCE } from './token-factory.js';

let dataDir: string;

beforeAll(() => {
  Logger.overrideLogger(false);
});

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'eas-dev-keys-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('loadDevSigningKey', () => {
  it('creates the key files with a kid', async () => {
    const key = await loadDevSigningKey(dataDir);

    const privateJwk = JSON.parse(await readFile(join(dataDir, DEV_PRIVATE_KEY_FILE), 'utf8'));
    const jwks = JSON.parse(await readFile(join(dataDir, DEV_JWKS_FILE), 'utf8'));
    expect(privateJwk.kid).toBe(key.kid);
    expect(privateJwk.kty).toBe('RSA');
    expect(typeof privateJwk.d).toBe('string');
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0].kid).toBe(key.kid);
    expect(jwks.keys[0].alg).toBe('RS256');
    expect(jwks).toEqual(key.jwks);
  });

  it('writes the private key with mode 0600', async () => {
    await loadDevSigningKey(dataDir);

    const { mode } = await stat(join(dataDir, DEV_PRIVATE_KEY_FILE));
    expect(mode & 0o777).toBe(0o600);
  });

  it('publishes no private key material', async () => {
    await loadDevSigningKey(dataDir);

    const jwks = JSON.parse(await readFile(join(dataDir, DEV_JWKS_FILE), 'utf8'));
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
      expect(jwks.keys[0]).not.toHaveProperty(member);
    }
  });

  it('reuses the key on later starts', async () => {
    const first = await loadDevSigningKey(dataDir);
    const second = await loadDevSigningKey(dataDir);

    expect(second.kid).toBe(first.kid);
  });

  it('creates one key for concurrent starts', async () => {
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadDevSigningKey(dataDir)));

    expect(new Set(keys.map((key) => key.kid)).size).toBe(1);
  });

  it('creates a missing data folder', async () => {
    const nested = join(dataDir, 'a', 'b');

    const key = await loadDevSigningKey(nested);

    expect(key.jwks.keys).toHaveLength(1);
  });

  it('rewrites a deleted JWKS file from the private key', async () => {
    const key = await loadDevSigningKey(dataDir);
    await rm(join(dataDir, DEV_JWKS_FILE));

    await loadDevSigningKey(dataDir);

    const jwks = JSON.parse(await readFile(join(dataDir, DEV_JWKS_FILE), 'utf8'));
    expect(jwks.keys[0].kid).toBe(key.kid);
  });

  it('rejects a corrupt private key file', async () => {
    await writeFile(join(dataDir, DEV_PRIVATE_KEY_FILE), '{"kty":"RSA"');

    await expect(loadDevSigningKey(dataDir)).rejects.toThrow(/not valid JSON. Delete it/);
  });

  it('rejects a non-RSA private key file', async () => {
    await writeFile(join(dataDir, DEV_PRIVATE_KEY_FILE), '{"kty":"oct","k":"AAAA"}');

    await expect(loadDevSigningKey(dataDir)).rejects.toThrow(/not an RSA private JWK/);
  });

  it('signs tokens the verifier accepts', async () => {
    const key = await loadDevSigningKey(dataDir);
    const verifier = new TokenVerifier({
      audience: TEST_AUDIENCE,
      allowedTenants: '*',
      clockToleranceSeconds: 0,
      keys: { kind: 'local', jwks: await loadDevPublicJwks(dataDir, false) },
    });
    const token = await mintDevToken(key, {
      tenantId: T1,
      applicationId: TEST_APP_ID,
      audience: TEST_AUDIENCE,
      lifetimeSeconds: 60,
      issuerVersion: 2,
      scopes: ['DeviceManagementManagedDevices.Read.All'],
    });

    const principal = await verifier.verify(`Bearer ${token}`);

    expect(principal.tenantId).toBe(T1);
    expect(principal.applicationId).toBe(TEST_APP_ID);
  });
});

describe('resolveKeySource', () => {
  it('uses the development key outside production', async () => {
    const source = await resolveKeySource({ dataDir, production: false });

    expect(source.kind).toBe('local');
    const key = await loadDevSigningKey(dataDir);
    expect(source).toEqual({ kind: 'local', jwks: key.jwks });
  });

  it('stops a production start without keys', async () => {
    await expect(resolveKeySource({ dataDir, production: true })).rejects.toThrow(
      /Neither AUTH_JWKS_URI nor AUTH_JWKS_FILE is set/,
    );
    await expect(stat(join(dataDir, DEV_PRIVATE_KEY_FILE))).rejects.toThrow(/ENOENT/);
  });

  it('prefers AUTH_JWKS_FILE', async () => {
    const issuer = await createTestIssuer();
    try {
      const source = await resolveKeySource({
        jwksFile: issuer.jwksPath,
        jwksUri: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
        dataDir,
        production: true,
      });

      expect(source).toEqual({ kind: 'local', jwks: issuer.jwks });
    } finally {
      await issuer.cleanup();
    }
  });

  it('uses AUTH_JWKS_URI in production', async () => {
    const uri = 'https://login.microsoftonline.com/common/discovery/v2.0/keys';

    const source = await resolveKeySource({ jwksUri: uri, dataDir, production: true });

    expect(source).toEqual({ kind: 'remote', url: new URL(uri) });
  });
});

describe('parseJwksUri', () => {
  it.each([
    'https://login.microsoftonline.com/common/discovery/v2.0/keys',
    'http://127.0.0.1:8080/keys',
    'http://localhost/keys',
    'http://[::1]:9000/keys',
  ])('accepts %s', (uri) => {
    expect(parseJwksUri(uri).href).toBe(new URL(uri).href);
  });

  it.each(['http://login.example.com/keys', 'ftp://127.0.0.1/keys', 'not a url', ''])(
    'rejects %p',
    (uri) => {
      expect(() => parseJwksUri(uri)).toThrow(/AUTH_JWKS_URI/);
    },
  );
});

describe('readJwksFile', () => {
  async function writeJwks(content: unknown): Promise<string> {
    const path = join(dataDir, 'jwks.json');
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));

    return path;
  }

  it('reads a JWKS with RSA and EC keys', async () => {
    const rsa = await exportJWK((await generateKeyPair('RS256')).publicKey);
    const ec = await exportJWK((await generateKeyPair('ES256')).publicKey);
    const path = await writeJwks({
      keys: [
        { ...rsa, kid: 'a' },
        { ...ec, kid: 'b' },
      ],
    });

    const jwks = await readJwksFile(path);

    expect(jwks.keys.map((key) => key.kid)).toEqual(['a', 'b']);
  });

  it('rejects a missing file', async () => {
    await expect(readJwksFile(join(dataDir, 'absent.json'))).rejects.toThrow(/could not be read/);
  });

  it.each([
    ['invalid JSON', '{"keys": ['],
    ['an object without keys', { key: [] }],
    ['keys that is not an array', { keys: {} }],
  ])('rejects %s', async (_, content) => {
    const path = await writeJwks(content);

    await expect(readJwksFile(path)).rejects.toThrow(/is not a JWKS/);
  });

  it('rejects an empty key list', async () => {
    const path = await writeJwks({ keys: [] });

    await expect(readJwksFile(path)).rejects.toThrow(/contains no keys/);
  });

  it('rejects a key without kid', async () => {
    const rsa = await exportJWK((await generateKeyPair('RS256')).publicKey);
    const path = await writeJwks({ keys: [rsa] });

    await expect(readJwksFile(path)).rejects.toThrow(/has no "kid"/);
  });

  it('rejects a private key', async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const path = await writeJwks({ keys: [{ ...(await exportJWK(pair.privateKey)), kid: 'a' }] });

    await expect(readJwksFile(path)).rejects.toThrow(/private or symmetric key material/);
  });

  it('rejects a symmetric key', async () => {
    const secret = await generateSecret('HS256', { extractable: true });
    const path = await writeJwks({ keys: [{ ...(await exportJWK(secret)), kid: 'a' }] });

    await expect(readJwksFile(path)).rejects.toThrow(/private or symmetric key material/);
  });

  it('rejects a key that cannot be imported', async () => {
    const path = await writeJwks({
      keys: [{ kty: 'EC', crv: 'P-256', kid: 'a', x: 'AA', y: 'AA' }],
    });

    await expect(readJwksFile(path)).rejects.toThrow(/\(kid a\) is invalid/);
  });

  it('rejects a key type that cannot sign', async () => {
    const path = await writeJwks({ keys: [{ kty: 'OKP', crv: 'X25519', kid: 'a', x: 'AA' }] });

    await expect(readJwksFile(path)).rejects.toThrow(/cannot sign tokens/);
  });

  it('rejects an RSA key under 2048 bits', async () => {
    const rsa = await exportJWK((await generateKeyPair('RS256')).publicKey);
    const shortModulus = Buffer.from(rsa.n as string, 'base64url').subarray(0, 128);
    const path = await writeJwks({
      keys: [{ ...rsa, kid: 'short', n: shortModulus.toString('base64url') }],
    });

    await expect(readJwksFile(path)).rejects.toThrow(/under 2048 bits/);
  });
});
