import { plainToInstance } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  validateSync,
} from 'class-validator';

const GUID_LIST =
  /^\*$|^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(,\s*[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})*$/;

/**
 * The environment variables the service reads, validated once at start.
 * Numeric variables arrive as text and are converted explicitly in `toNumber` so that
 * "abc" is reported instead of becoming NaN.
 */
export class EnvironmentVariables {
  @IsOptional()
  @IsIn(['development', 'production', 'test'])
  NODE_ENV?: string;

  @IsOptional()
  @IsString()
  HOST?: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT?: number;

  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'DATABASE_URL must be a postgres:// URL' })
  DATABASE_URL?: string;

  @IsOptional()
  @IsString()
  DATA_DIR?: string;

  @IsOptional()
  @IsString()
  AUTH_AUDIENCE?: string;

  @IsOptional()
  @Matches(GUID_LIST, {
    message: 'AUTH_ALLOWED_TENANTS must be * or a comma-separated list of tenant GUIDs',
  })
  AUTH_ALLOWED_TENANTS?: string;

  @IsOptional()
  @Matches(/^https:\/\/\S+$|^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/\S*$/, {
    message: 'AUTH_JWKS_URI must be an https:// URL (plain http only on a loopback address)',
  })
  AUTH_JWKS_URI?: string;

  @IsOptional()
  @IsString()
  AUTH_JWKS_FILE?: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3600)
  AUTH_CLOCK_TOLERANCE_SECONDS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100000)
  MAX_PAGE_SIZE?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  THROTTLE_REQUESTS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  THROTTLE_WRITES?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86400)
  THROTTLE_WINDOW_SECONDS?: number;

  @IsOptional()
  @IsString()
  TLS_CERT_FILE?: string;

  @IsOptional()
  @IsString()
  TLS_KEY_FILE?: string;

  @IsOptional()
  @Matches(/^rediss?:\/\/\S+$/, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  @IsOptional()
  @IsIn(['true', 'false'])
  TRUST_PROXY?: string;

  @IsOptional()
  @IsIn(['true', 'false'])
  MIGRATIONS_RUN?: string;

  @IsOptional()
  @IsString()
  @Matches(/^.{32,}$/, { message: 'SKIPTOKEN_SECRET must be at least 32 characters' })
  SKIPTOKEN_SECRET?: string;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL?: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1024 * 1024 * 1024)
  BODY_LIMIT_BYTES?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3600)
  SHUTDOWN_GRACE_SECONDS?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  BATCH_CONCURRENCY?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100000)
  BATCH_QUEUE_LIMIT?: number;
}

const NUMERIC_VARIABLES = [
  'PORT',
  'AUTH_CLOCK_TOLERANCE_SECONDS',
  'MAX_PAGE_SIZE',
  'THROTTLE_REQUESTS',
  'THROTTLE_WRITES',
  'THROTTLE_WINDOW_SECONDS',
  'BODY_LIMIT_BYTES',
  'SHUTDOWN_GRACE_SECONDS',
  'BATCH_CONCURRENCY',
  'BATCH_QUEUE_LIMIT',
] as const;

/** Converts whole-number text to a number; anything else stays text so validation names it. */
function toNumber(value: unknown): unknown {
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) {
    return Number(value.trim());
  }
  return value;
}

/**
 * Validates the environment and throws one error that names every invalid variable.
 * Empty strings count as unset, as docker-compose writes them for blank values.
 */
export function validateEnvironment(raw: Record<string, unknown>): EnvironmentVariables {
  const cleaned: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === '' || value === undefined) {
      continue;
    }
    cleaned[name] = (NUMERIC_VARIABLES as readonly string[]).includes(name)
      ? toNumber(value)
      : value;
  }

  const environment = plainToInstance(EnvironmentVariables, cleaned);
  const errors = validateSync(environment, { skipMissingProperties: false });
  if (errors.length > 0) {
    const details = errors
      .map((error) => `${error.property}: ${Object.values(error.constraints ?? {}).join('; ')}`)
      .join('\n  ');
    throw new Error(`Invalid configuration:\n  ${details}`);
  }
  return environment;
}
