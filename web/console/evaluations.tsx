// A bot's test questions and evaluation runs: questions with the document (and page) that should
// answer them, added, edited and deleted in place; "Run evaluation" starts a run, polled every
// second while it runs; then recall@5 and MRR, a row per question (retrieved, cited, rank, the top
// sources), and the history of runs with their figures.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { EvaluationView, TestQuestionView } from '../../shared/domain/evaluation.ts';
import { formatDate } from './format.ts';
import { LoadMore, pagePath, usePaged } from './paging.tsx';
import { useConsole } from './session.ts';
import type { Bot, KnowledgeDocument, Page } from './types.ts';
import {
  ConfirmDelete,
  ErrorAlert,
  Field,
  fieldErrors,
  isNotFound,
  Loading,
  Status,
  useSubmit,
} from './ui.tsx';

type TestQuestion = TestQuestionView;
type Evaluation = EvaluationView;

const POLL_MS = 1000;
/** The API's cap (shared/domain/evaluation.ts), shown before a person meets it. */
const MAX_QUESTIONS = 200;

const percent = (share: number | undefined) =>
  share === undefined ? '—' : `${Math.round(share * 1000) / 10}%`;
const decimal = (value: number | undefined) => (value === undefined ? '—' : value.toFixed(3));

/** Every document of the bot (a few pages at most), for the picker and for names. */
function useDocuments(base: string) {
  const { call } = useConsole();
  const [documents, setDocuments] = useState<KnowledgeDocument[] | undefined>(undefined);
  useEffect(() => {
    let live = true;
    (async () => {
      const all: KnowledgeDocument[] = [];
      let cursor: string | undefined;
      do {
        const page = await call<Page<KnowledgeDocument>>(pagePath(`${base}/documents`, cursor, 100));
        all.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      if (live) setDocuments(all);
    })().catch(() => {
      if (live) setDocuments([]);
    });
    return () => {
      live = false;
    };
  }, [base]);
  return documents;
}

export function Evaluations({ bot, onGone }: { bot: Bot; onGone: () => void }) {
  const { call } = useConsole();
  const base = `/admin/bots/${encodeURIComponent(bot.id)}`;
  const documents = useDocuments(base);
  const nameOf = (id: string) => documents?.find((d) => d.id === id)?.filename;
  const questions = usePaged(
    async (cursor) => {
      try {
        return await call<Page<TestQuestion>>(pagePath(`${base}/test-questions`, cursor, 100));
      } catch (error) {
        if (cursor === undefined && isNotFound(error)) onGone();
        throw error;
      }
    },
    [base],
  );
  const [status, setStatus] = useState('');
  const [editing, setEditing] = useState<string | undefined>(undefined);

  const items = questions.data?.items ?? [];
  const replace = (q: TestQuestion) =>
    questions.setData((page) => page && { ...page, items: page.items.map((x) => (x.id === q.id ? q : x)) });
  const remove = (id: string) =>
    questions.setData((page) => page && { ...page, items: page.items.filter((x) => x.id !== id) });

  async function deleteQuestion(q: TestQuestion) {
    try {
      await call(`${base}/test-questions/${encodeURIComponent(q.id)}`, { method: 'DELETE' });
    } catch (error) {
      if (!isNotFound(error)) throw error; // already gone: the same result
    }
    remove(q.id);
    setStatus('Test question deleted.');
  }

  const ready = (documents ?? []).filter((d) => d.status === 'ready');
  return (
    <div>
      <h2>Test questions</h2>
      <p class="pc-muted">
        Questions with the document that should answer them. An evaluation asks each one as the bot would and
        shows whether that document was retrieved and cited. A bot may have up to {MAX_QUESTIONS}.
      </p>
      <Status>{status}</Status>
      <section class="pc-card" aria-labelledby="pc-tq-add-title">
        <h3 id="pc-tq-add-title">Add a test question</h3>
        {documents && ready.length === 0 ? (
          <p class="pc-empty">Upload a document and wait until it is ready to add questions about it.</p>
        ) : (
          <QuestionForm
            idPrefix="pc-tq-new"
            documents={ready}
            submitLabel="Add question"
            onSubmit={async (body) => {
              const { question } = await call<{ question: TestQuestion }>(`${base}/test-questions`, {
                method: 'POST',
                body,
              });
              questions.setData((page) => ({
                items: [...(page?.items ?? []), question],
                nextCursor: page?.nextCursor,
              }));
              setStatus('Test question added.');
            }}
            onNotFound={onGone}
          />
        )}
      </section>

      {questions.error ? <ErrorAlert error={questions.error} /> : null}
      {!questions.data && questions.loading ? <Loading what="Loading test questions…" /> : null}
      {questions.data && items.length === 0 ? <p class="pc-empty">No test questions yet.</p> : null}
      {items.length > 0 ? (
        <ul class="pc-list" aria-label="Test questions">
          {items.map((q) => (
            <li key={q.id} class="pc-list-item pc-tq" data-question-id={q.id}>
              {editing === q.id ? (
                <QuestionForm
                  idPrefix={`pc-tq-${q.id}`}
                  documents={
                    ready.some((d) => d.id === q.expectedDocumentId) ? ready : [...ready, ...missing(q)]
                  }
                  initial={q}
                  submitLabel="Save question"
                  onCancel={() => setEditing(undefined)}
                  onSubmit={async (body) => {
                    const { question } = await call<{ question: TestQuestion }>(
                      `${base}/test-questions/${encodeURIComponent(q.id)}`,
                      { method: 'PUT', body },
                    );
                    replace(question);
                    setEditing(undefined);
                    setStatus('Test question saved.');
                  }}
                  onNotFound={() => {
                    remove(q.id);
                    setEditing(undefined);
                  }}
                />
              ) : (
                <>
                  <div class="pc-tq-main">
                    <span class="pc-list-title">{q.question}</span>
                    <span class="pc-muted">
                      Expects {nameOf(q.expectedDocumentId) ?? 'a deleted document'}
                      {q.expectedPage !== undefined ? `, page ${q.expectedPage}` : ''}
                    </span>
                  </div>
                  <div class="pc-actions">
                    <button type="button" class="pc-secondary" onClick={() => setEditing(q.id)}>
                      Edit
                    </button>
                    <ConfirmDelete what="this test question" onConfirm={() => deleteQuestion(q)} />
                  </div>
                </>
              )}
            </li>
          ))}
        </ul>
      ) : null}
      <LoadMore list={questions} label="Load more test questions" />

      <Runs bot={bot} base={base} hasQuestions={items.length > 0} nameOf={nameOf} onGone={onGone} />
    </div>
  );
}

/** A question's document that is no longer ready (or gone): still selectable while editing it. */
const missing = (q: TestQuestion): KnowledgeDocument[] => [
  {
    id: q.expectedDocumentId,
    filename: 'the current document (not ready or deleted)',
    contentType: '',
    size: 0,
    status: 'failed',
    chunksTotal: 0,
    chunksIndexed: 0,
    createdAt: '',
    updatedAt: '',
  },
];

interface QuestionBody {
  question: string;
  expectedDocumentId: string;
  expectedPage?: number | string;
}

/** The question, its document and optional page; the API's refusals shown at their fields. */
function QuestionForm(props: {
  idPrefix: string;
  documents: KnowledgeDocument[];
  initial?: TestQuestion;
  submitLabel: string;
  onSubmit: (body: QuestionBody) => Promise<void>;
  onCancel?: () => void;
  onNotFound: () => void;
}) {
  const { initial, idPrefix } = props;
  const [question, setQuestion] = useState(initial?.question ?? '');
  const [documentId, setDocumentId] = useState(initial?.expectedDocumentId ?? props.documents[0]?.id ?? '');
  const [page, setPage] = useState(initial?.expectedPage === undefined ? '' : String(initial.expectedPage));
  const { busy, error, run } = useSubmit();
  const errors = fieldErrors(error);
  // The first ready document once the list arrives (the form may render before it).
  useEffect(() => {
    if (!documentId && props.documents[0]) setDocumentId(props.documents[0].id);
  }, [props.documents]);

  async function submit(event: Event) {
    event.preventDefault();
    await run(
      async () => {
        const parsed = Number(page);
        const body: QuestionBody = {
          question,
          expectedDocumentId: documentId,
          ...(page.trim() ? { expectedPage: Number.isFinite(parsed) ? parsed : page } : {}),
        };
        await props.onSubmit(body);
        if (!initial) {
          setQuestion('');
          setPage('');
        }
      },
      (failure) => {
        if (isNotFound(failure)) props.onNotFound();
      },
    );
  }

  const other = Object.keys(errors).some(
    (path) => !['question', 'expectedDocumentId', 'expectedPage'].includes(path),
  );
  return (
    <form class="pc-tq-form" onSubmit={submit} noValidate>
      <Field id={`${idPrefix}-question`} label="Question" error={errors.question} wide>
        {(aria) => (
          <textarea
            {...aria}
            rows={2}
            maxLength={2000}
            value={question}
            onInput={(e) => setQuestion(e.currentTarget.value)}
          />
        )}
      </Field>
      <div class="pc-grid">
        <Field
          id={`${idPrefix}-document`}
          label="Expected document"
          error={errors.expectedDocumentId}
          hint="The document that should answer it"
        >
          {(aria) => (
            <select {...aria} value={documentId} onChange={(e) => setDocumentId(e.currentTarget.value)}>
              {props.documents.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.filename}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          id={`${idPrefix}-page`}
          label="Expected page (optional)"
          error={errors.expectedPage}
          hint="For PDFs: leave empty for any page"
        >
          {(aria) => (
            <input
              {...aria}
              type="number"
              min={1}
              step="1"
              inputMode="numeric"
              value={page}
              onInput={(e) => setPage(e.currentTarget.value)}
            />
          )}
        </Field>
      </div>
      {error && (other || Object.keys(errors).length === 0) ? <ErrorAlert error={error} /> : null}
      <div class="pc-actions">
        <button type="submit" disabled={busy || !question.trim() || !documentId}>
          {busy ? 'Saving…' : props.submitLabel}
        </button>
        {props.onCancel ? (
          <button type="button" class="pc-secondary" onClick={props.onCancel} disabled={busy}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

/** The run button, the run being looked at (polled while it runs), and the history. */
function Runs(props: {
  bot: Bot;
  base: string;
  hasQuestions: boolean;
  nameOf: (id: string) => string | undefined;
  onGone: () => void;
}) {
  const { call } = useConsole();
  const path = `${props.base}/evaluations`;
  const history = usePaged((cursor) => call<Page<Evaluation>>(pagePath(path, cursor, 20)), [path]);
  const [selected, setSelected] = useState<Evaluation | undefined>(undefined);
  const [status, setStatus] = useState('');
  const start = useSubmit();
  const chosen = useRef(false);

  const upsert = (run: Evaluation) =>
    history.setData((page) => {
      const items = page?.items ?? [];
      const known = items.some((r) => r.id === run.id);
      const { results: _results, ...summary } = run;
      return {
        items: known ? items.map((r) => (r.id === run.id ? summary : r)) : [summary, ...items],
        nextCursor: page?.nextCursor,
      };
    });

  async function open(id: string) {
    try {
      const { evaluation } = await call<{ evaluation: Evaluation }>(`${path}/${encodeURIComponent(id)}`);
      setSelected(evaluation);
      upsert(evaluation);
    } catch (error) {
      if (isNotFound(error)) setStatus('That run has expired.');
      else setStatus('The run could not be loaded; try again.');
    }
  }

  // The newest run is shown when the screen opens (and followed if it is still running).
  useEffect(() => {
    const newest = history.data?.items[0];
    if (chosen.current || !newest) return;
    chosen.current = true;
    void open(newest.id);
  }, [history.data]);

  // While the shown run runs: poll it every second.
  const runningId = selected?.status === 'running' ? selected.id : undefined;
  useEffect(() => {
    if (!runningId) return;
    let busy = false;
    const timer = window.setInterval(() => {
      if (busy) return;
      busy = true;
      call<{ evaluation: Evaluation }>(`${path}/${encodeURIComponent(runningId)}`)
        .then(({ evaluation }) => {
          setSelected((current) => (current?.id === evaluation.id ? evaluation : current));
          upsert(evaluation);
          if (evaluation.status === 'done') setStatus('The evaluation is done.');
          if (evaluation.status === 'failed') setStatus('The evaluation failed.');
        })
        .catch((error: unknown) => {
          if (isNotFound(error)) props.onGone();
          // Anything else: try again on the next tick.
        })
        .finally(() => {
          busy = false;
        });
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [runningId, path]);

  const runEvaluation = () =>
    start.run(
      async () => {
        const { evaluation } = await call<{ evaluation: Evaluation }>(path, { method: 'POST' });
        chosen.current = true;
        setSelected(evaluation);
        upsert(evaluation);
        setStatus('Evaluation started.');
      },
      (failure) => {
        if (isNotFound(failure)) props.onGone();
      },
    );

  const runs = history.data?.items ?? [];
  const anyRunning = runs.some((r) => r.status === 'running') || selected?.status === 'running';
  return (
    <section aria-labelledby="pc-eval-title">
      <h2 id="pc-eval-title">Evaluation</h2>
      <p class="pc-muted">
        Retrieval only: no model is asked, so a run costs only its embedding calls. The bot cites its first{' '}
        {props.bot.retrieval.topK} passages.
      </p>
      <div class="pc-actions">
        <button
          type="button"
          onClick={runEvaluation}
          disabled={start.busy || anyRunning || !props.hasQuestions}
        >
          {anyRunning ? 'Evaluation running…' : start.busy ? 'Starting…' : 'Run evaluation'}
        </button>
      </div>
      {start.error ? <ErrorAlert error={start.error} /> : null}
      <Status>{status}</Status>
      {selected ? <RunDetail run={selected} nameOf={props.nameOf} /> : null}

      <h3>History</h3>
      {history.error ? <ErrorAlert error={history.error} /> : null}
      {!history.data && history.loading ? <Loading what="Loading evaluation runs…" /> : null}
      {history.data && runs.length === 0 ? <p class="pc-empty">No evaluation has run yet.</p> : null}
      {runs.length > 0 ? (
        <div class="pc-table-wrap">
          <table class="pc-table" aria-label="Evaluation runs">
            <caption>Runs, newest first (kept 90 days)</caption>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Status</th>
                <th scope="col">Questions</th>
                <th scope="col">Recall@5</th>
                <th scope="col">MRR</th>
                <th scope="col">
                  <span class="pc-visually-hidden">Details</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {runs.map((run) => (
                <tr
                  key={run.id}
                  data-evaluation-id={run.id}
                  aria-current={run.id === selected?.id ? 'true' : undefined}
                >
                  <th scope="row">{formatDate(run.createdAt)}</th>
                  <td>
                    <RunStatus status={run.status} />
                  </td>
                  <td>{run.questionCount}</td>
                  <td>{percent(run.recallAt5)}</td>
                  <td>{decimal(run.mrr)}</td>
                  <td>
                    <button type="button" class="pc-link" onClick={() => open(run.id)}>
                      {run.id === selected?.id ? 'Shown' : 'Show'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <LoadMore list={history} label="Load more runs" />
    </section>
  );
}

const STATUS_LABELS = { running: 'Running', done: 'Done', failed: 'Failed' } as const;

function RunStatus({ status }: { status: Evaluation['status'] }) {
  return (
    <span
      class="pc-badge"
      data-status={status === 'running' ? 'processing' : status === 'done' ? 'ready' : 'failed'}
    >
      {STATUS_LABELS[status]}
    </span>
  );
}

function Mark({ yes, what }: { yes: boolean; what: string }) {
  return (
    <span class={yes ? 'pc-yes' : 'pc-no'} role="img" aria-label={`${what}: ${yes ? 'yes' : 'no'}`}>
      {yes ? '✓' : '✗'}
    </span>
  );
}

function RunDetail({ run, nameOf }: { run: Evaluation; nameOf: (id: string) => string | undefined }) {
  return (
    <section
      class="pc-card pc-run"
      aria-label="Evaluation run"
      data-evaluation-id={run.id}
      data-status={run.status}
    >
      <h3>
        Run of {formatDate(run.createdAt)} <RunStatus status={run.status} />
      </h3>
      {run.status === 'running' ? (
        <p class="pc-loading" role="status">
          Asking {run.questionCount} {run.questionCount === 1 ? 'question' : 'questions'}…
          <progress aria-label="Evaluation running" />
        </p>
      ) : null}
      {run.status === 'failed' ? (
        <p class="pc-alert pc-alert-error">{run.error ?? 'The run failed.'}</p>
      ) : null}
      {run.status === 'done' ? (
        <dl class="pc-facts pc-run-figures">
          <div class="pc-fact">
            <dt>Recall@5</dt>
            <dd data-figure="recall">{percent(run.recallAt5)}</dd>
          </div>
          <div class="pc-fact">
            <dt>MRR</dt>
            <dd data-figure="mrr">{decimal(run.mrr)}</dd>
          </div>
          <div class="pc-fact">
            <dt>Questions</dt>
            <dd>{run.questionCount}</dd>
          </div>
          <div class="pc-fact">
            <dt>Finished</dt>
            <dd>{formatDate(run.finishedAt)}</dd>
          </div>
        </dl>
      ) : null}
      {run.results && run.results.length > 0 ? (
        <div class="pc-table-wrap">
          <table class="pc-table pc-table-text" aria-label="Results per question">
            <thead>
              <tr>
                <th scope="col">Question</th>
                <th scope="col">Expected source</th>
                <th scope="col">Retrieved</th>
                <th scope="col">Cited</th>
                <th scope="col">Rank</th>
                <th scope="col">Top sources</th>
              </tr>
            </thead>
            <tbody>
              {run.results.map((result) => (
                <tr key={result.questionId} data-question-id={result.questionId}>
                  <th scope="row">{result.question}</th>
                  <td>
                    {nameOf(result.expectedDocumentId) ?? 'a deleted document'}
                    {result.expectedPage !== undefined ? `, page ${result.expectedPage}` : ''}
                  </td>
                  <td>
                    <Mark yes={result.retrieved} what="Retrieved" />
                  </td>
                  <td>
                    <Mark yes={result.cited} what="Cited" />
                  </td>
                  <td>{result.rank ?? '—'}</td>
                  <td>
                    {result.topSources.length === 0 ? (
                      <span class="pc-muted">Nothing retrieved</span>
                    ) : (
                      <ol class="pc-sources">
                        {result.topSources.map((source, i) => (
                          <li
                            key={`${source.documentId}-${i}`}
                            class={
                              source.documentId === result.expectedDocumentId &&
                              (result.expectedPage === undefined || source.page === result.expectedPage)
                                ? 'pc-source-expected'
                                : undefined
                            }
                          >
                            {source.filename}
                            {source.page !== undefined ? `, p. ${source.page}` : ''}
                            {source.heading ? ` · ${source.heading}` : ''}{' '}
                            <span class="pc-muted">{source.score.toFixed(3)}</span>
                          </li>
                        ))}
                      </ol>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
