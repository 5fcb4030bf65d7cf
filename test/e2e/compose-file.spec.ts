import { readFileSync } from 'node:fs';

import { parse } from 'yaml';

interface ComposeService {
  build?: string;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  healthcheck?: { test: string[] };
}

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
    services: Record<string, ComposeService>;
  };
  const { postgres, migrate, api } = compose.services;

  test('declares postgres, migrate and api services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'migrate', 'postgres']);
  });

  test('api waits for healthy postgres and finished migrations', () => {
    expect(api.depends_on?.postgres.condition).toBe('service_healthy');
    expect(api.depends_on?.migrate.condition).toBe('service_completed_successfully');
    expect(migrate.depends_on?.postgres.condition).toBe('service_healthy');
  });

  test('api and migrate use the postgres credentials', () => {
    const env = postgres.environment ?? {};
    const url = `postgres://${env.POSTGRES_USER}:${env.POSTGRES_PASSWORD}@postgres:5432/${env.POSTGRES_DB}`;

    expect(api.environment?.DATABASE_URL).toBe(url);
    expect(migrate.environment?.DATABASE_URL).toBe(url);
  });

  test('api binds all interfaces and publishes its port', () => {
    expect(api.environment?.HOST).toBe('0.0.0.0');
    expect(api.ports).toContain(`${api.environment?.PORT}:${api.environment?.PORT}`);
    expect(api.environment?.MIGRATIONS_RUN).toBe('false');
  });

  test('migrate runs the compiled migration script', () => {
    expect(migrate.command).toEqual(['node', 'dist/src/database/migrate.js']);
    expect(readFileSync('package.json', 'utf8')).toContain('dist/src/database/migrate.js');
  });

  test('api health check calls the readiness route', () => {
    expect(api.healthcheck?.test.join(' ')).toContain('/health/ready');
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');

  test('runs as the unprivileged node user', () => {
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  test('starts the compiled service', () => {
    expect(dockerfile).toContain('CMD ["node", "dist/src/main.js"]');
  });
});
