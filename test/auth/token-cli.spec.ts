import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Logger } from '@nestjs/common';
import { decodeJwt, decodeProtectedHeader } from 'jose';

import { loadDevSigningKey } from '../../src/auth/dev-keys.js';
import { DEV_USER_ID } from '../../src/auth/dev-token.js';
import {
  DEFAULT_APPLICATION_ID,
  DEFAULT_SCOPES,
  DEFAULT_TENANT_ID,
  EXIT_USAGE,
  runTokenCli,
} from '../../src/auth/token-cli.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';
import { OTHER_APP_ID, T2 } from './token-factory.js';

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

let dataDir: string;

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runTokenCli(
    args,
    { DATA_DIR: dataDir, ...env },
    {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
    },
  );

  return { code, stdout, stderr };
}

/** Runs the program and returns the token it printed, asserting a clean exit. */
async function mintWith(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const result = await run(args, env);
  expect(result.code).toBe(0);
  expect(result.stderr).toBe('');
  expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);

  return result.stdout.trim();
}

beforeAll(() => {
  Logger.overrideLogger(false);
});

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'eas-token-cli-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('token CLI output', () => {
  it('prints a default token the service accepts', async () => {
    const token = await mintWith([]);

    const key = await loadDevSigningKey(dataDir);
    const verifier = new TokenVerifier({
      audience: 'api://endpoint-analytics',
      allowedTenants: '*',
      clockToleranceSeconds: 0,
      keys: { kind: 'local', jwks: key.jwks },
    });
    const principal = await verifier.verify(`Bearer ${token}`);
    expect(principal.tenantId).toBe(DEFAULT_TENANT_ID);
    expect(principal.applicationId).toBe(DEFAULT_APPLICATION_ID);
    expect(principal.tokenVersion).toBe('2.0');
    expect([...principal.permissions]).toEqual([DEFAULT_SCOPES.toLowerCase()]);
  });

  it('sets the default claims and header', async () => {
    const token = await mintWith([]);

    const claims = decodeJwt(token);
    const header = decodeProtectedHeader(token);
    expect(claims.aud).toBe('api://endpoint-analytics');
    expect(claims.iss).toBe(`https://login.microsoftonline.com/${DEFAULT_TENANT_ID}/v2.0`);
    expect(claims.scp).toBe(DEFAULT_SCOPES);
    expect(claims.roles).toBeUndefined();
    expect(claims.sub).toBe(DEV_USER_ID);
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
    expect(header.alg).toBe('RS256');
    expect(header.kid).toBe((await loadDevSigningKey(dataDir)).kid);
  });

  it('reads AUTH_AUDIENCE from the environment', async () => {
    const token = await mintWith([], { AUTH_AUDIENCE: 'api://from-env' });

    expect(decodeJwt(token).aud).toBe('api://from-env');
  });

  it('lets --audience override AUTH_AUDIENCE', async () => {
    const token = await mintWith(['--audience', 'api://option'], { AUTH_AUDIENCE: 'api://env' });

    expect(decodeJwt(token).aud).toBe('api://option');
  });

  it('sets tenant, app, scopes and lifetime', async () => {
    const token = await mintWith([
      '--tenant',
      T2.toUpperCase(),
      '--app',
      OTHER_APP_ID,
      '--scopes',
      'openid  DeviceManagementManagedDevices.Read.All',
      '--lifetime',
      '120',
    ]);

    const claims = decodeJwt(token);
    expect(claims.tid).toBe(T2);
    expect(claims.azp).toBe(OTHER_APP_ID);
    expect(claims.scp).toBe('openid DeviceManagementManagedDevices.Read.All');
    expect((claims.exp as number) - (claims.iat as number)).toBe(120);
  });

  it('makes an app-only token with --roles', async () => {
    const token = await mintWith(['--roles', 'A.Read.All, B.ReadWrite.All', '--app', OTHER_APP_ID]);

    const claims = decodeJwt(token);
    expect(claims.roles).toEqual(['A.Read.All', 'B.ReadWrite.All']);
    expect(claims.scp).toBeUndefined();
    expect(claims.sub).toBe(OTHER_APP_ID);
  });

  it('makes a token without permissions for --scopes ""', async () => {
    const token = await mintWith(['--scopes', '']);

    const claims = decodeJwt(token);
    expect(claims.scp).toBeUndefined();
    expect(claims.roles).toBeUndefined();
  });

  it('uses the v1 issuer and appid with --version 1', async () => {
    const token = await mintWith(['--version', '1', '--tenant', T2]);

    const claims = decodeJwt(token);
    expect(claims.iss).toBe(`https://sts.windows.net/${T2}/`);
    expect(claims.appid).toBe(DEFAULT_APPLICATION_ID);
    expect(claims.azp).toBeUndefined();
    expect(claims.ver).toBe('1.0');
  });

  it('signs every token with the same stored key', async () => {
    const first = decodeProtectedHeader(await mintWith([]));
    const second = decodeProtectedHeader(await mintWith([]));

    expect(second.kid).toBe(first.kid);
  });

  it('prints help on stdout', async () => {
    const result = await run(['--help']);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--tenant <guid>');
    expect(result.stdout).toContain('--lifetime <seconds>');
    expect(result.stderr).toBe('');
  });
});

describe('token CLI invalid options', () => {
  it.each([
    [['--tenant', 'contoso'], /--tenant must be a GUID/],
    [['--app', '42'], /--app must be a GUID/],
    [['--lifetime', '0'], /--lifetime must be a whole number/],
    [['--lifetime', '1.5'], /--lifetime must be a whole number/],
    [['--lifetime', '-5'], /--lifetime/],
    [['--lifetime', 'soon'], /--lifetime must be a whole number/],
    [['--version', '3'], /--version must be 1 or 2/],
    [['--audience', ' '], /--audience must not be empty/],
    [['--roles', ' , '], /--roles must name at least one/],
    [['--roles', 'A', '--scopes', 'B'], /cannot be combined/],
    [['--colour'], /Unknown option/],
    [['extra'], /positional/i],
    [['--tenant'], /argument missing/],
  ])('rejects %j with exit code 2', async (args, message) => {
    const result = await run([...args]);

    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toContain('--help');
  });

  it('refuses to mint in production', async () => {
    const result = await run([], { NODE_ENV: 'production' });

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/NODE_ENV=production/);
  });
});
