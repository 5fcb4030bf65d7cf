import { readFileSync } from 'node:fs';

import { parse } from 'yaml';

interface ComposeService {
  build?: string;
  profiles?: string[];
  configs?: Array<{ source: string; target: string }>;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
}

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
    services: Record<string, ComposeService>;
    configs?: Record<string, { content?: string }>;
  };
  const { postgres, migrate, api, prometheus } = compose.services;

  test('declares postgres, migrate, api and prometheus services', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'api',
      'migrate',
      'postgres',
      'prometheus',
    ]);
  });

  test('starts prometheus only with the monitoring profile', () => {
    for (const service of [postgres, migrate, api]) {
      expect(service.profiles).toBeUndefined();
    }
    expect(prometheus.profiles).toEqual(['monitoring']);
    expect(prometheus.depends_on?.api.condition).toBe('service_healthy');
  });

  test('prometheus scrapes the api metrics', () => {
    const mounted = prometheus.configs?.find(
      (config) => config.target === '/etc/prometheus/prometheus.yml',
    );
    const settings = parse(compose.configs?.[mounted?.source ?? '']?.content ?? '') as {
      scrape_configs: Array<{
        metrics_path?: string;
        static_configs: Array<{ targets: string[] }>;
      }>;
    };
    const [job] = settings.scrape_configs;

    expect(job.metrics_path).toBe('/metrics');
    expect(job.static_configs[0].targets).toEqual([`api:${api.environment?.PORT}`]);
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

  test('api gets longer to stop than its shutdown grace period', () => {
    const stopSeconds = Number(/^(\d+)s$/.exec(api.stop_grace_period ?? '')?.[1]);

    expect(stopSeconds).toBeGreaterThan(Number(api.environment?.SHUTDOWN_GRACE_SECONDS));
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

  test('starts the compiled service as start:prod does', () => {
    const command = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
      scripts: Record<string, string>;
    };

    expect(command.at(-1)).toBe('dist/src/main.js');
    expect(command).toContain('--max-old-space-size=144');
    expect(command.join(' ')).toBe(manifest.scripts['start:prod']);
  });
});
