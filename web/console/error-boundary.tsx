// The last line of defence: a rendering failure shows a way out instead of a blank page.

import { Component, type ComponentChildren } from 'preact';

export class ErrorBoundary extends Component<{ children?: ComponentChildren }, { failed: boolean }> {
  override state = { failed: false };

  override componentDidCatch(error: unknown) {
    console.warn('The console failed to render', error);
    this.setState({ failed: true });
  }

  override render() {
    if (!this.state.failed) return this.props.children;
    return (
      <main class="pc-crash" id="main">
        <div class="pc-card" role="alert">
          <h1>Something went wrong</h1>
          <p>The console hit an unexpected problem. Reloading the page usually fixes it; your key is kept.</p>
          <button type="button" onClick={() => location.reload()}>
            Reload
          </button>
        </div>
      </main>
    );
  }
}
