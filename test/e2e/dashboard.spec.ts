import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { chromium, type Browser, type Page } from 'playwright-core';

import { createRandom } from '../../src/tools/seed-data.js';
import { queryDatabase, READ, startTestApp, type TestApp } from '../support/test-app.js';

// The dashboard page: served without a token and with a strict Content-Security-Policy, then
// loaded in Debian's headless Chromium, where it must show the numbers of a seeded fleet. The
// screenshot is kept in test-output/dashboard.png.

const TENANT = randomUUID();
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOT = path.resolve('test-output', 'dashboard.png');
const TOKEN_LABEL = 'Bearer token with a DeviceManagement read permission';
const HEALTH = ['unknown', 'insufficientData', 'needsAttention', 'meetingGoals'];
const HEALTH_LABELS: Record<string, string> = {
  meetingGoals: 'Meeting goals',
  needsAttention: 'Needs attention',
  insufficientData: 'Insufficient data',
  unknown: 'Unknown',
};

interface Device {
  manufacturer: string;
  model: string;
  score: number;
  health: number;
}

/** 14 models with their own score level, so the ten worst are clear; one has no scores. */
function makeFleet(): Device[] {
  const random = createRandom(42);
  const devices: Device[] = [];
  for (let index = 0; index < 14; index += 1) {
    const manufacturer = ['Contoso', 'Fabrikam', 'Northwind'][index % 3];
    const model = `Model ${String.fromCharCode(65 + index)}`;
    const level = 15 + index * 6;
    const size = 3 + (index % 5) * 4;
    for (let device = 0; device < size; device += 1) {
      const unavailable = index === 13 || random() < 0.1;
      const score = unavailable ? -1 : Math.round((level + random() * 10) * 4) / 4;
      devices.push({ manufacturer, model, score, health: Math.floor(random() * 4) });
    }
  }
  return devices;
}

const numbers = new Intl.NumberFormat('en-US');
const scores = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const shares = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 });

function expectedHealthRows(devices: readonly Device[]): string[][] {
  return ['meetingGoals', 'needsAttention', 'insufficientData', 'unknown'].map((state) => {
    const count = devices.filter((device) => HEALTH[device.health] === state).length;
    return [HEALTH_LABELS[state], numbers.format(count), shares.format(count / devices.length)];
  });
}

function expectedScoreRows(devices: readonly Device[]): string[][] {
  const rows = Array.from({ length: 10 }, (_, index) => {
    const from = index * 10;
    const to = from + 10;
    const last = index === 9;
    const count = devices.filter(
      (device) => device.score >= from && (last ? device.score <= to : device.score < to),
    ).length;
    return [last ? `${from} to ${to}` : `${from} to under ${to}`, numbers.format(count)];
  });
  rows.push(['Not available', numbers.format(devices.filter((d) => d.score === -1).length)]);
  return rows;
}

function expectedWorstRows(devices: readonly Device[]): string[][] {
  const models = new Map<string, Device[]>();
  for (const device of devices) {
    models.set(device.model, [...(models.get(device.model) ?? []), device]);
  }

  return [...models.values()]
    .map((members) => {
      const available = members.filter((member) => member.score !== -1);
      const average =
        available.length === 0
          ? -1
          : available.reduce((sum, member) => sum + member.score, 0) / available.length;
      return { members, average };
    })
    .filter((model) => model.average !== -1)
    .sort((a, b) => a.average - b.average || b.members.length - a.members.length)
    .slice(0, 10)
    .map(({ members, average }, index) => [
      String(index + 1),
      members[0].model,
      members[0].manufacturer,
      numbers.format(members.length),
      scores.format(average),
    ]);
}

async function tableRows(page: Page, caption: string, columns: number): Promise<string[][]> {
  const rows = page.getByRole('table', { name: caption }).locator('tbody tr');
  const texts: string[][] = [];
  for (const row of await rows.all()) {
    const cells = await row.locator('td').allInnerTexts();
    texts.push(cells.slice(0, columns).map((text) => text.trim()));
  }
  return texts;
}

describe('dashboard', () => {
  let service: TestApp;
  let browser: Browser;
  let devices: Device[];
  let token: string;

  beforeAll(async () => {
    service = await startTestApp({ THROTTLE_REQUESTS: '100000' });
    devices = makeFleet();
    await queryDatabase(
      `INSERT INTO device_scores (tenant_id, id, manufacturer, model, endpoint_analytics_score,
         health_status)
       SELECT $1::uuid, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::float8[], $6::int2[])`,
      [
        TENANT,
        devices.map(() => randomUUID()),
        devices.map((device) => device.manufacturer),
        devices.map((device) => device.model),
        devices.map((device) => device.score),
        devices.map((device) => device.health),
      ],
    );
    token = await service.token(READ, TENANT);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await queryDatabase('DELETE FROM device_scores WHERE tenant_id = $1', [TENANT]);
    await service.close();
  });

  /** Opens a page that records every request and every script error. */
  async function openPage() {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') {
        errors.push(message.text());
      }
    });
    return { page, requests, errors };
  }

  test('page and files are served without a token', async () => {
    for (const [url, type] of [
      ['/dashboard', 'text/html; charset=utf-8'],
      ['/dashboard/dashboard.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dashboard.css', 'text/css; charset=utf-8'],
    ]) {
      const response = await service.request({ method: 'GET', url, token: null });

      expect({ url, status: response.statusCode }).toEqual({ url, status: 200 });
      expect(response.headers['content-type']).toBe(type);
      expect(response.headers['content-security-policy']).toContain("default-src 'none'");
      expect(response.headers['content-security-policy']).not.toContain(
        'upgrade-insecure-requests',
      );
    }
  });

  test('page loads only files of this service', async () => {
    const response = await service.request({ method: 'GET', url: '/dashboard', token: null });
    const sources = [...response.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);

    expect(sources.sort()).toEqual([
      '/dashboard/dashboard.css',
      '/dashboard/dashboard.js',
      'data:,',
    ]);
    expect(response.body).not.toMatch(/<script>|<style>| style="/);
  });

  test('unknown dashboard file is 404', async () => {
    const response = await service.request({
      method: 'GET',
      url: '/dashboard/../package.json',
      token: null,
    });

    expect(response.statusCode).toBe(404);
  });

  test('shows the seeded fleet in Chromium', async () => {
    const { page, requests, errors } = await openPage();
    await page.goto(`${service.origin}/dashboard`);
    await page.getByLabel(TOKEN_LABEL).fill(token);
    await page.getByRole('button', { name: 'Show dashboard' }).click();
    await page.getByRole('status').filter({ hasText: 'Updated at' }).waitFor();

    const models = new Set(devices.map((device) => device.model)).size;
    expect(await page.locator('#device-total').innerText()).toBe(numbers.format(devices.length));
    expect(await page.locator('#model-total').innerText()).toBe(String(models));
    expect(await tableRows(page, 'Devices by health state', 3)).toEqual(
      expectedHealthRows(devices),
    );
    expect(await tableRows(page, 'Devices by endpoint analytics score', 2)).toEqual(
      expectedScoreRows(devices),
    );
    expect(await tableRows(page, 'Ten worst models by endpoint analytics score', 5)).toEqual(
      expectedWorstRows(devices),
    );

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(errors).toEqual([]);
    expect(requests.every((url) => url.startsWith(`${service.origin}/`))).toBe(true);
    await page.close();
  }, 60_000);

  test('takes a token from the fragment and clears it', async () => {
    const { page, errors } = await openPage();
    await page.goto(`${service.origin}/dashboard#token=${encodeURIComponent(token)}`);
    await page.getByRole('status').filter({ hasText: 'Updated at' }).waitFor();

    expect(new URL(page.url()).hash).toBe('');
    expect(await page.locator('#device-total').innerText()).toBe(numbers.format(devices.length));
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);

  test('reports a rejected token', async () => {
    const { page } = await openPage();
    await page.goto(`${service.origin}/dashboard`);
    await page.getByLabel(TOKEN_LABEL).fill('not-a-token');
    await page.getByRole('button', { name: 'Show dashboard' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();

    expect(await alert.innerText()).toContain(
      'The token was not accepted (InvalidAuthenticationToken)',
    );
    expect(await page.locator('#results').isHidden()).toBe(true);
    await page.close();
  }, 60_000);
});
