// The console's entry point: read where the API is, then mount the app into #app.

import { render } from 'preact';
import { createApi, describeError, loadConfig } from '../shared/api.ts';
import { App } from './app.tsx';
import { ErrorBoundary } from './error-boundary.tsx';
import './console.css';

const root = document.getElementById('app');

async function start(container: HTMLElement) {
  try {
    const api = createApi(await loadConfig());
    container.textContent = ''; // the page's static "Loading…" line: Preact owns the container now
    render(
      <ErrorBoundary>
        <App api={api} />
      </ErrorBoundary>,
      container,
    );
  } catch (error) {
    // Without its settings the console cannot reach the API: say so rather than stay on "Loading".
    container.textContent = '';
    render(
      <main class="pc-crash" id="main">
        <div class="pc-card" role="alert">
          <h1>The console could not start</h1>
          <p>{describeError(error)}</p>
          <button type="button" onClick={() => location.reload()}>
            Reload
          </button>
        </div>
      </main>,
      container,
    );
  }
}

if (root) void start(root);
