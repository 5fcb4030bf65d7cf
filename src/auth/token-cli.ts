import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { Logger, type LoggerService } from '@nestjs/common';

import { loadDevSigningKey } from './dev-keys.js';
import { mintDevToken, type DevTokenRequest } from './dev-token.js';
import { GUID_PATTERN } from './token-claims.js';

export const DEFAULT_TENANT_ID = '11111111-1111-1111-1111-111111111111';
export const DEFAULT_APPLICATION_ID = '00000000-0000-4000-8000-0000000000a1';
export const DEFAULT_SCOPES = 'DeviceManagementManagedDevices.ReadWrite.All';
export const DEFAULT_LIFETIME_SECONDS = 3600;
const DEFAULT_DATA_DIR = './data';
const DEFAULT_AUDIENCE = 'api://endpoint-analytics';

/** Exit code for invalid command-line options. */
export const EXIT_USAGE = 2;

export const USAGE = `Usage: npm run token -- [options]

Prints an access token signed with the development key in DATA_DIR (default ./data),
creating the key if it does not exist yet.

Options:
  --tenant <guid>      tenant ID, the "tid" claim (default ${DEFAULT_TENANT_ID})
  --scopes "<names>"   delegated permissions, space-separated, the "scp" claim
                       (default ${DEFAULT_SCOPES}; "" for none)
  --roles "<names>"    application permissions, comma-separated, the "roles" claim;
                       makes an app-only token without "scp"
  --app <guid>         client application ID, "azp" in v2 and "appid" in v1 tokens
                       (default ${DEFAULT_APPLICATION_ID})
  --lifetime <seconds> seconds until the token expires (default ${DEFAULT_LIFETIME_SECONDS})
  --audience <value>   the "aud" claim (default AUTH_AUDIENCE, else ${DEFAULT_AUDIENCE})
  --version 1|2        issuer form: 1 is https://sts.windows.net/<tenant>/,
                       2 is https://login.microsoftonline.com/<tenant>/v2.0 (default 2)
  --help               print this help
`;

/** Output streams of the program: the token goes to `stdout`, messages to `stderr`. */
export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

class UsageError extends Error {}

/**
 * Runs the `npm run token` program and returns its exit code: 0 on success, 2 for invalid options,
 * 1 when the key cannot be loaded.
 */
export async function runTokenCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  output: CliOutput,
): Promise<number> {
  let request: DevTokenRequest | 'help';
  try {
    request = parseTokenRequest(args, env);
  } catch (error) {
    if (!(error instanceof UsageError || isParseArgsError(error))) {
      throw error;
    }
    output.stderr(`${(error as Error).message}\nRun with --help to list the options.\n`);

    return EXIT_USAGE;
  }
  if (request === 'help') {
    output.stdout(USAGE);

    return 0;
  }

  if (env.NODE_ENV === 'production') {
    output.stderr(
      'The development signing key is not used with NODE_ENV=production. ' +
        'Get access tokens from the identity provider instead.\n',
    );

    return 1;
  }
  const dataDir = env.DATA_DIR || DEFAULT_DATA_DIR;
  try {
    const key = await loadDevSigningKey(dataDir);
    output.stdout(`${await mintDevToken(key, request)}\n`);
  } catch (error) {
    output.stderr(`Creating the token failed: ${(error as Error).message}\n`);

    return 1;
  }

  return 0;
}

/** Parses the options into a token request, or 'help'. Throws UsageError for invalid options. */
function parseTokenRequest(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): DevTokenRequest | 'help' {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: false,
    options: {
      tenant: { type: 'string' },
      scopes: { type: 'string' },
      roles: { type: 'string' },
      app: { type: 'string' },
      lifetime: { type: 'string' },
      audience: { type: 'string' },
      version: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    return 'help';
  }
  if (values.scopes !== undefined && values.roles !== undefined) {
    throw new UsageError(
      '--scopes and --roles cannot be combined: a token is delegated or app-only.',
    );
  }

  const request: DevTokenRequest = {
    tenantId: parseGuid('--tenant', values.tenant ?? DEFAULT_TENANT_ID),
    applicationId: parseGuid('--app', values.app ?? DEFAULT_APPLICATION_ID),
    audience: parseAudience(values.audience ?? (env.AUTH_AUDIENCE || DEFAULT_AUDIENCE)),
    lifetimeSeconds: parseLifetime(values.lifetime ?? String(DEFAULT_LIFETIME_SECONDS)),
    issuerVersion: parseIssuerVersion(values.version ?? '2'),
  };
  if (values.roles !== undefined) {
    return { ...request, roles: parseRoles(values.roles) };
  }

  return { ...request, scopes: splitNames(values.scopes ?? DEFAULT_SCOPES, /\s+/) };
}

function parseGuid(option: string, value: string): string {
  if (!GUID_PATTERN.test(value)) {
    throw new UsageError(`${option} must be a GUID such as ${DEFAULT_TENANT_ID}, got '${value}'.`);
  }

  return value.toLowerCase();
}

function parseAudience(value: string): string {
  if (value.trim() === '') {
    throw new UsageError('--audience must not be empty.');
  }

  return value;
}

function parseLifetime(value: string): number {
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(seconds) || seconds < 1) {
    throw new UsageError(`--lifetime must be a whole number of seconds above 0, got '${value}'.`);
  }

  return seconds;
}

function parseIssuerVersion(value: string): 1 | 2 {
  if (value === '1' || value === '2') {
    return value === '1' ? 1 : 2;
  }
  throw new UsageError(`--version must be 1 or 2, got '${value}'.`);
}

function parseRoles(value: string): string[] {
  const roles = splitNames(value, ',');
  if (roles.length === 0) {
    throw new UsageError('--roles must name at least one application permission.');
  }

  return roles;
}

function splitNames(value: string, separator: RegExp | string): string[] {
  return value
    .split(separator)
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;

  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** Sends Nest log lines to stderr, so stdout carries only the token. */
const stderrLogger: LoggerService = {
  log: (message: unknown) => process.stderr.write(`${String(message)}\n`),
  warn: (message: unknown) => process.stderr.write(`${String(message)}\n`),
  error: (message: unknown) => process.stderr.write(`${String(message)}\n`),
};

function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) {
    return false;
  }
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isMainModule()) {
  Logger.overrideLogger(stderrLogger);
  const output: CliOutput = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  };
  process.exitCode = await runTokenCli(process.argv.slice(2), process.env, output);
}
