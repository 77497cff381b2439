// The web view's entry (docs/architecture.md#web-view): wires the watch stream to the map and panels.
// The token, when the collector needs one, lives in sessionStorage: gone when the tab closes.
import { createMap } from './map.js';
import { emptySnapshot, flowsIn, namespacesOf, type Snapshot } from './model.js';
import { renderDetail, renderFindings, renderNodes } from './panels.js';
import { watch, type Status } from './watch.js';

const TOKEN_KEY = 'nodewarden.apiToken';
/** Relative times and recency colours move on even when nothing new arrives. */
const CLOCK_MS = 5000;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const storedToken = () => sessionStorage.getItem(TOKEN_KEY) ?? undefined;

function start(): void {
  const main = $('main'),
    status = $('status'),
    staleBanner = $('stale'),
    form = $<HTMLFormElement>('token-form');
  const tokenInput = $<HTMLInputElement>('token-input'),
    tokenError = $('token-error'),
    forget = $<HTMLButtonElement>('token-forget');
  let data: Snapshot = emptySnapshot();
  let scheduled = false;
  const nsFilter = $<HTMLSelectElement>('ns-filter');
  /** The namespace filter lives in the URL (#namespace=shop), so a link shows the same map. */
  let namespace = new URLSearchParams(location.hash.slice(1)).get('namespace') ?? '';
  const syncFilter = () => {
    const names = namespacesOf(data.flows.values());
    if (namespace && !names.includes(namespace)) names.unshift(namespace); // a linked namespace without drops yet
    const want = ['', ...names];
    if (want.join('\n') !== [...nsFilter.options].map((o) => o.value).join('\n')) {
      nsFilter.replaceChildren(...want.map((n) => new Option(n || 'all', n)));
    }
    nsFilter.value = namespace;
  };
  nsFilter.addEventListener('change', () => {
    namespace = nsFilter.value;
    history.replaceState(null, '', namespace ? `#namespace=${encodeURIComponent(namespace)}` : location.pathname);
    schedule();
  });

  const map = createMap($('map'), $('map-summary'), () => renderDetail($('detail'), map.selected(), Date.now()));
  const render = () => {
    scheduled = false;
    const now = Date.now();
    syncFilter();
    map.render(flowsIn(data.flows.values(), namespace), now);
    renderDetail($('detail'), map.selected(), now);
    renderFindings($('findings'), $('findings-title'), data.findings.values(), now);
    renderNodes($('nodes'), $('nodes-title'), data.nodes.values(), now);
  };
  /** Bursts of events render once per frame. */
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(render);
    }
  };

  const showStatus = (s: Status) => {
    status.className = `status ${s.kind === 'live' ? 'live' : s.kind === 'connecting' ? '' : 'down'}`;
    status.textContent =
      s.kind === 'live'
        ? `Live · synced ${new Date(s.at).toLocaleTimeString()}`
        : s.kind === 'connecting'
          ? 'Connecting…'
          : s.kind === 'retrying'
            ? `Disconnected (${s.why}); retrying in ${Math.ceil(s.inMs / 1000)} s`
            : 'API token required';
    forget.hidden = !storedToken();
    if (s.kind === 'unauthorized') {
      main.hidden = true;
      data = emptySnapshot(); // nothing from a session whose token is no longer accepted stays in the page
      schedule();
      form.hidden = false;
      tokenError.hidden = !s.hadToken;
      tokenError.textContent = s.hadToken ? 'The collector rejected that token.' : '';
      if (s.hadToken) sessionStorage.removeItem(TOKEN_KEY);
      tokenInput.focus();
    }
  };

  const stream = watch({
    token: storedToken,
    status: showStatus,
    stale: (reason) => {
      staleBanner.hidden = !reason;
      staleBanner.textContent = reason ? `The collector is not caught up (${reason}); counts may be low.` : '';
    },
    snapshot: (s) => {
      data = s;
      form.hidden = true;
      main.hidden = false;
      schedule();
    },
    changed: schedule,
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = tokenInput.value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    tokenInput.value = '';
    form.hidden = true;
    stream.restart();
  });
  forget.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    stream.restart();
  });
  setInterval(() => {
    if (!main.hidden) schedule();
  }, CLOCK_MS);
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
