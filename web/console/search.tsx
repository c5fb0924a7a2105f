// What the bot would retrieve for a question: the passages, best first, with their scores, to
// check the knowledge base and tune the retrieval settings.

import { useState } from 'preact/hooks';
import { useConsole } from './session.ts';
import type { Bot, SearchResult } from './types.ts';
import { ErrorAlert, fieldErrors, InputField, isNotFound, Status, useSubmit } from './ui.tsx';

export function Search({ bot, onGone }: { bot: Bot; onGone: () => void }) {
  const { call } = useConsole();
  const [query, setQuery] = useState('');
  const [topK, setTopK] = useState(String(bot.retrieval.topK));
  const { busy, error, run } = useSubmit();
  const [results, setResults] = useState<SearchResult[] | undefined>(undefined);
  const errors = fieldErrors(error);

  async function submit(event: Event) {
    event.preventDefault();
    await run(
      async () => {
        const parsed = Number(topK);
        const body = { query, ...(topK.trim() ? { topK: Number.isFinite(parsed) ? parsed : topK } : {}) };
        const answer = await call<{ results: SearchResult[] }>(
          `/admin/bots/${encodeURIComponent(bot.id)}/search`,
          { method: 'POST', body },
        );
        setResults(answer.results);
      },
      (failure) => {
        if (isNotFound(failure)) onGone();
      },
    );
  }

  return (
    <div>
      <h2>Search</h2>
      <p class="pc-muted">
        See which passages the bot would use to answer. Passages scoring under the minimum score (
        {bot.retrieval.minScore}) are left out of answers.
      </p>
      <search>
        <form class="pc-search" onSubmit={submit} noValidate>
          <InputField
            id="pc-search-query"
            label="Search query"
            error={errors.query}
            type="search"
            name="query"
            maxLength={2000}
            value={query}
            onValue={setQuery}
          />
          <InputField
            id="pc-search-topk"
            label="Number of results"
            error={errors.topK}
            type="number"
            min={1}
            max={50}
            step="1"
            value={topK}
            onValue={setTopK}
          />
          <button type="submit" disabled={busy || !query.trim()}>
            {busy ? 'Searching…' : 'Search'}
          </button>
        </form>
      </search>
      {error ? <ErrorAlert error={error} /> : null}
      <Status>
        {results ? `${results.length} ${results.length === 1 ? 'passage' : 'passages'} found.` : ''}
      </Status>
      {results && results.length === 0 ? (
        <p class="pc-empty">Nothing matched. Are the documents uploaded and ready?</p>
      ) : null}
      {results && results.length > 0 ? (
        <ol class="pc-results">
          {results.map((result, index) => (
            <li key={`${result.documentId}-${index}`} class="pc-result">
              <p class="pc-result-meta">
                <strong>{result.filename}</strong>
                {result.page !== undefined ? <span>page {result.page}</span> : null}
                {result.heading ? <span>{result.heading}</span> : null}
                <span class="pc-score" title="Cosine similarity">
                  score {result.score.toFixed(3)}
                </span>
              </p>
              <p class="pc-result-text">{result.text}</p>
            </li>
          ))}
        </ol>
      ) : null}
    </div>
  );
}
