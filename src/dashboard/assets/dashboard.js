// The dashboard's script: reads the token, calls the service's Graph API on the same origin
// and fills the tables. Plain JavaScript for current browsers, with no build step and no
// third-party code, so the page's Content-Security-Policy can allow only this origin.

const API = '/beta/deviceManagement';
const DEVICE_SCORES = `${API}/userExperienceAnalyticsDeviceScores`;
const MODEL_SCORES = `${API}/userExperienceAnalyticsModelScores`;
const TOKEN_KEY = 'endpoint-analytics-dashboard-token';

const HEALTH_STATES = [
  { name: 'meetingGoals', label: 'Meeting goals' },
  { name: 'needsAttention', label: 'Needs attention' },
  { name: 'insufficientData', label: 'Insufficient data' },
  { name: 'unknown', label: 'Unknown' },
];

/** Score ranges of the histogram: [from, to) except the last, which includes 100. */
const SCORE_BUCKETS = Array.from({ length: 10 }, (_, index) => ({
  from: index * 10,
  to: index * 10 + 10,
  last: index === 9,
}));

const elements = {
  form: document.getElementById('token-form'),
  token: document.getElementById('token'),
  forget: document.getElementById('forget-token'),
  status: document.getElementById('status'),
  error: document.getElementById('error'),
  results: document.getElementById('results'),
  deviceTotal: document.getElementById('device-total'),
  modelTotal: document.getElementById('model-total'),
  meetingShare: document.getElementById('meeting-share'),
  healthRows: document.querySelector('#health-table tbody'),
  scoreRows: document.querySelector('#score-table tbody'),
  worstRows: document.querySelector('#worst-table tbody'),
};

const numberFormat = new Intl.NumberFormat('en-US');
const scoreFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const shareFormat = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 });

/** An error response of the service, with the Graph error code and message. */
class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

/** Builds a query string, percent-encoding each value so `+` and `&` stay literal. */
function query(options) {
  return Object.entries(options)
    .map(([name, value]) => `${name}=${encodeURIComponent(value)}`)
    .join('&');
}

/** Sends a GET with the bearer token and returns the body as JSON or text. */
async function get(path, token) {
  const response = await fetch(path, {
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
    cache: 'no-store',
  });
  const type = response.headers.get('content-type') ?? '';
  const body = type.startsWith('application/json') ? await response.json() : await response.text();
  if (!response.ok) {
    const error = body && typeof body === 'object' ? body.error : undefined;
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP ${response.status}`,
      error?.message ?? String(body).slice(0, 200),
      error?.innerError?.['request-id'],
    );
  }
  return body;
}

/** Device counts per health state, from one `$apply` request. */
async function loadHealth(token) {
  const body = await get(
    `${DEVICE_SCORES}?${query({ $apply: 'groupby((healthStatus),aggregate($count as devices))' })}`,
    token,
  );
  const counts = new Map(body.value.map((row) => [row.healthStatus, row.devices]));

  return HEALTH_STATES.map((state) => ({ ...state, devices: counts.get(state.name) ?? 0 }));
}

/** Device counts per score range and for unavailable scores, one `/$count` per range. */
async function loadScores(token) {
  const ranges = SCORE_BUCKETS.map((bucket) => ({
    label: bucket.last ? `${bucket.from} to ${bucket.to}` : `${bucket.from} to under ${bucket.to}`,
    filter:
      `endpointAnalyticsScore ge ${bucket.from} and endpointAnalyticsScore ` +
      `${bucket.last ? 'le' : 'lt'} ${bucket.to}`,
  }));
  ranges.push({ label: 'Not available', filter: 'endpointAnalyticsScore eq -1' });

  const counts = await Promise.all(
    ranges.map((range) =>
      get(`${DEVICE_SCORES}/$count?${query({ $filter: range.filter })}`, token),
    ),
  );

  return ranges.map((range, index) => ({ label: range.label, devices: Number(counts[index]) }));
}

/** Loads the ten models with the lowest available average score, and the number of models. */
async function loadWorstModels(token) {
  const worst = await get(
    `${MODEL_SCORES}?${query({
      $filter: 'endpointAnalyticsScore ne -1',
      $orderby: 'endpointAnalyticsScore,modelDeviceCount desc',
      $top: '10',
      $select: 'model,manufacturer,modelDeviceCount,endpointAnalyticsScore,healthStatus',
    })}`,
    token,
  );
  const models = await get(`${MODEL_SCORES}/$count`, token);

  return { worst: worst.value, modelCount: Number(models) };
}

function cell(text, className) {
  const element = document.createElement('td');
  element.textContent = text;
  if (className !== undefined) {
    element.className = className;
  }
  return element;
}

/** Returns a bar cell whose width is `fraction` of the track, hidden from assistive technology. */
function barCell(fraction) {
  const element = document.createElement('td');
  element.className = 'bar';
  const track = document.createElement('div');
  track.className = 'bar-track';
  track.setAttribute('aria-hidden', 'true');
  const fill = document.createElement('div');
  fill.className = 'bar-fill';
  fill.style.width = `${Math.max(0, Math.min(1, fraction)) * 100}%`;
  track.append(fill);
  element.append(track);
  return element;
}

function healthLabel(name) {
  return HEALTH_STATES.find((state) => state.name === name)?.label ?? name;
}

function renderHealth(states) {
  const total = states.reduce((sum, state) => sum + state.devices, 0);
  const rows = states.map((state) => {
    const row = document.createElement('tr');
    row.className = `state-${state.name}`;
    const share = total === 0 ? 0 : state.devices / total;
    row.append(
      cell(state.label),
      cell(numberFormat.format(state.devices), 'number'),
      cell(shareFormat.format(share), 'number'),
      barCell(share),
    );
    return row;
  });
  elements.healthRows.replaceChildren(...rows);

  const meeting = states.find((state) => state.name === 'meetingGoals')?.devices ?? 0;
  elements.deviceTotal.textContent = numberFormat.format(total);
  elements.meetingShare.textContent = shareFormat.format(total === 0 ? 0 : meeting / total);
}

function renderScores(buckets) {
  const largest = Math.max(1, ...buckets.map((bucket) => bucket.devices));
  elements.scoreRows.replaceChildren(
    ...buckets.map((bucket) => {
      const row = document.createElement('tr');
      row.append(
        cell(bucket.label),
        cell(numberFormat.format(bucket.devices), 'number'),
        barCell(bucket.devices / largest),
      );
      return row;
    }),
  );
}

function renderWorstModels({ worst, modelCount }) {
  elements.modelTotal.textContent = numberFormat.format(modelCount);
  if (worst.length === 0) {
    const row = document.createElement('tr');
    const empty = cell('No model has an available score yet.');
    empty.colSpan = 7;
    row.append(empty);
    elements.worstRows.replaceChildren(row);
    return;
  }

  elements.worstRows.replaceChildren(
    ...worst.map((model, index) => {
      const row = document.createElement('tr');
      row.className = `state-${model.healthStatus}`;
      row.append(
        cell(String(index + 1), 'number'),
        cell(model.model ?? '(no model)'),
        cell(model.manufacturer ?? '(no manufacturer)'),
        cell(numberFormat.format(model.modelDeviceCount), 'number'),
        cell(scoreFormat.format(model.endpointAnalyticsScore), 'number'),
        barCell(model.endpointAnalyticsScore / 100),
        cell(healthLabel(model.healthStatus)),
      );
      return row;
    }),
  );
}

function showError(error) {
  let text;
  if (error instanceof ApiError) {
    text =
      error.status === 401 || error.status === 403
        ? `The token was not accepted (${error.code}): ${error.message}`
        : `The service returned ${error.code}: ${error.message}`;
    if (error.requestId !== undefined) {
      text += ` (request-id ${error.requestId})`;
    }
  } else {
    text = `The dashboard could not reach the service: ${error.message}`;
  }
  elements.error.textContent = text;
  elements.error.hidden = false;
}

async function showDashboard(token) {
  elements.error.hidden = true;
  elements.status.textContent = 'Loading…';
  try {
    const [health, scores, models] = await Promise.all([
      loadHealth(token),
      loadScores(token),
      loadWorstModels(token),
    ]);
    renderHealth(health);
    renderScores(scores);
    renderWorstModels(models);
    elements.results.hidden = false;
    elements.status.textContent = `Updated at ${new Date().toLocaleTimeString('en-US')}.`;
  } catch (error) {
    elements.results.hidden = true;
    elements.status.textContent = '';
    showError(error);
  }
}

/** Takes a token from `#token=...` once, then removes it from the address bar and history. */
function tokenFromFragment() {
  const match = /^#token=(.+)$/.exec(window.location.hash);
  if (match === null) {
    return undefined;
  }
  history.replaceState(null, '', window.location.pathname + window.location.search);
  return decodeURIComponent(match[1]).trim();
}

elements.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = elements.token.value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  void showDashboard(token);
});

elements.forget.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  elements.token.value = '';
  elements.results.hidden = true;
  elements.status.textContent = 'The token was removed from this tab.';
});

const initial = tokenFromFragment() ?? sessionStorage.getItem(TOKEN_KEY);
if (initial) {
  elements.token.value = initial;
  sessionStorage.setItem(TOKEN_KEY, initial);
  void showDashboard(initial);
}
