// A bot's knowledge base: its documents with their status, uploads by file picker or drag and drop
// (the file goes straight to storage through the presigned form, with a progress bar), and a poll
// every second while a document is on its way to ready.

import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from '../shared/api.ts';
import { formatBytes, formatDate } from './format.ts';
import { LoadMore, pagePath, usePaged } from './paging.tsx';
import { useConsole } from './session.ts';
import type { Bot, DocumentUpload, KnowledgeDocument, Page } from './types.ts';
import { ConfirmDelete, ErrorAlert, isNotFound, Loading, Status } from './ui.tsx';

/** Content types by extension, for browsers that give none (or a wrong one, such as Excel's for .csv). */
const CONTENT_TYPES: Record<string, string> = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  txt: 'text/plain',
  md: 'text/markdown',
  markdown: 'text/markdown',
  csv: 'text/csv',
  html: 'text/html',
  htm: 'text/html',
};
const ACCEPT = `${Object.keys(CONTENT_TYPES)
  .map((ext) => `.${ext}`)
  .join(',')},${[...new Set(Object.values(CONTENT_TYPES))].join(',')}`;

function contentTypeOf(file: File): string {
  const ext = file.name.includes('.') ? (file.name.split('.').pop() ?? '').toLowerCase() : '';
  return CONTENT_TYPES[ext] ?? (file.type || 'application/octet-stream');
}

/** The upload request's fields as a person knows them. */
const FILE_FIELDS: Record<string, string> = {
  filename: 'File name',
  contentType: 'File type',
  size: 'File size',
};

const POLL_MS = 1000;
const PAGE_SIZE = 100;

interface UploadState {
  /** 0 to 1. */
  progress: number;
  phase: 'uploading' | 'uploaded' | 'failed';
  error?: string;
}

interface Refusal {
  id: number;
  filename: string;
  error: unknown;
}

/** Why storage refused a form post, from S3's XML error when it sent one. */
function storageProblem(xhr: XMLHttpRequest): string {
  let detail = '';
  try {
    const xml = new DOMParser().parseFromString(xhr.responseText, 'application/xml');
    detail = xml.querySelector('Message')?.textContent ?? xml.querySelector('Code')?.textContent ?? '';
  } catch {
    detail = '';
  }
  return `Storage refused the file (HTTP ${xhr.status})${detail ? `: ${detail}` : '.'}`;
}

/** Posts the presigned form (its fields, then the file as `file`), reporting progress. */
function postForm(
  upload: DocumentUpload['upload'],
  file: File,
  onProgress: (share: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append('file', file);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', upload.url);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    xhr.onload = () =>
      xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(storageProblem(xhr)));
    xhr.onerror = () =>
      reject(new Error('The file could not be sent to storage. Check your connection and try again.'));
    xhr.onabort = () => reject(new Error('The upload was cancelled.'));
    xhr.send(form);
  });
}

export function Documents({ bot, onGone }: { bot: Bot; onGone: () => void }) {
  const { call } = useConsole();
  const base = `/admin/bots/${encodeURIComponent(bot.id)}/documents`;
  const docs = usePaged((cursor) => call<Page<KnowledgeDocument>>(pagePath(base, cursor, PAGE_SIZE)), [base]);
  const [uploads, setUploads] = useState<Record<string, UploadState>>({});
  const [refusals, setRefusals] = useState<Refusal[]>([]);
  const [dragging, setDragging] = useState(false);
  const [status, setStatus] = useState('');
  const input = useRef<HTMLInputElement>(null);
  const nextRefusal = useRef(1);

  const replace = (doc: KnowledgeDocument) =>
    docs.setData((page) => page && { ...page, items: page.items.map((d) => (d.id === doc.id ? doc : d)) });
  const remove = (id: string) =>
    docs.setData((page) => page && { ...page, items: page.items.filter((d) => d.id !== id) });
  const track = (id: string, state: UploadState) => setUploads((all) => ({ ...all, [id]: state }));

  // Documents on their way to ready, polled every second; read through a ref so the timer is set once.
  const pending = useRef<string[]>([]);
  pending.current = (docs.data?.items ?? [])
    .filter(
      (d) =>
        d.status === 'processing' || (d.status === 'awaiting_upload' && uploads[d.id]?.phase === 'uploaded'),
    )
    .map((d) => d.id);
  const polling = pending.current.length > 0;
  const inFlight = useRef(new Set<string>());

  // One timer while anything is pending; it reads the latest list through refs.
  useEffect(() => {
    if (!polling) return;
    const timer = window.setInterval(() => {
      for (const id of pending.current) {
        if (inFlight.current.has(id)) continue;
        inFlight.current.add(id);
        call<{ document: KnowledgeDocument }>(`${base}/${encodeURIComponent(id)}`)
          .then(({ document }) => {
            replace(document);
            if (document.status === 'ready') setStatus(`${document.filename} is ready.`);
            if (document.status === 'failed') setStatus(`${document.filename} failed.`);
          })
          .catch((error: unknown) => {
            if (isNotFound(error)) {
              remove(id); // deleted elsewhere (or its bot was: the bot view checks)
              onGone();
            }
            // Anything else: try again on the next tick.
          })
          .finally(() => inFlight.current.delete(id));
      }
    }, POLL_MS);
    return () => window.clearInterval(timer);
  }, [polling, base]);

  async function upload(file: File) {
    let created: DocumentUpload;
    try {
      created = await call<DocumentUpload>(base, {
        method: 'POST',
        body: { filename: file.name, contentType: contentTypeOf(file), size: file.size },
      });
    } catch (error) {
      if (isNotFound(error)) onGone();
      setRefusals((all) => [...all, { id: nextRefusal.current++, filename: file.name, error }]);
      return;
    }
    const id = created.document.id;
    docs.setData((page) => ({
      items: [created.document, ...(page?.items ?? []).filter((d) => d.id !== id)],
      nextCursor: page?.nextCursor,
    }));
    track(id, { progress: 0, phase: 'uploading' });
    setStatus(`Uploading ${file.name}…`);
    try {
      await postForm(created.upload, file, (progress) => track(id, { progress, phase: 'uploading' }));
      track(id, { progress: 1, phase: 'uploaded' });
      setStatus(`${file.name} uploaded; processing it.`);
    } catch (error) {
      const message = error instanceof Error ? error.message : describeError(error);
      track(id, { progress: 0, phase: 'failed', error: message });
      setStatus(`${file.name} could not be uploaded.`);
    }
  }

  function uploadAll(files: FileList | null | undefined) {
    for (const file of Array.from(files ?? [])) void upload(file);
  }

  async function deleteDocument(doc: KnowledgeDocument) {
    try {
      await call(`${base}/${encodeURIComponent(doc.id)}`, { method: 'DELETE' });
    } catch (error) {
      if (!isNotFound(error)) throw error; // already gone: the same result
    }
    remove(doc.id);
    setStatus(`${doc.filename} deleted.`);
  }

  const items = docs.data?.items ?? [];
  return (
    <div>
      <h2>Documents</h2>
      <p class="pc-muted">
        The bot answers from these. PDF, Word (.docx), text, Markdown, CSV and HTML files are accepted.
      </p>
      <section
        class={`pc-dropzone${dragging ? ' pc-dropzone-active' : ''}`}
        aria-label="Upload documents"
        onDragEnter={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragOver={(e) => {
          e.preventDefault(); // without this the browser opens the dropped file instead
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
          setDragging(true);
        }}
        onDragLeave={(e) => {
          if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
        }}
        onDrop={(e) => {
          e.preventDefault();
          setDragging(false);
          uploadAll(e.dataTransfer?.files);
        }}
      >
        <p class="pc-dropzone-text">Drag files here, or choose them:</p>
        <div class="pc-row">
          <label for="pc-doc-file" class="pc-file-label">
            Choose files
          </label>
          <input
            ref={input}
            id="pc-doc-file"
            type="file"
            name="file"
            multiple
            accept={ACCEPT}
            onChange={(e) => {
              uploadAll(e.currentTarget.files);
              e.currentTarget.value = ''; // the same file may be picked again
            }}
          />
          <button type="button" onClick={() => input.current?.click()}>
            Upload
          </button>
        </div>
      </section>
      {refusals.map((refusal) => (
        <div key={refusal.id} class="pc-refusal">
          <ErrorAlert error={refusal.error} label={(path) => FILE_FIELDS[path] ?? path} />
          <p class="pc-refusal-file">
            <strong>{refusal.filename}</strong> was not uploaded.{' '}
            <button
              type="button"
              class="pc-link"
              onClick={() => setRefusals((all) => all.filter((r) => r.id !== refusal.id))}
            >
              Dismiss
            </button>
          </p>
        </div>
      ))}
      <Status>{status}</Status>
      {docs.error ? <ErrorAlert error={docs.error} /> : null}
      {!docs.data && docs.loading ? <Loading what="Loading documents…" /> : null}
      {docs.data && items.length === 0 ? <p class="pc-empty">No documents yet.</p> : null}
      {items.length > 0 ? (
        <ul class="pc-list pc-doc-list" aria-label="Documents">
          {items.map((doc) => (
            <li key={doc.id} class="pc-list-item" data-document-id={doc.id}>
              <div class="pc-doc-main">
                <span class="pc-list-title">{doc.filename}</span>
                <span class="pc-muted">
                  {formatBytes(doc.size)} · added {formatDate(doc.createdAt)}
                </span>
                <DocumentState doc={doc} upload={uploads[doc.id]} />
              </div>
              <ConfirmDelete what={`“${doc.filename}”`} onConfirm={() => deleteDocument(doc)} />
            </li>
          ))}
        </ul>
      ) : null}
      <LoadMore list={docs} label="Load more documents" />
    </div>
  );
}

const percent = (share: number) => Math.round(Math.min(1, Math.max(0, share)) * 100);

function DocumentState({ doc, upload }: { doc: KnowledgeDocument; upload?: UploadState }) {
  switch (doc.status) {
    case 'awaiting_upload': {
      if (upload?.phase === 'failed') {
        return (
          <div class="pc-doc-state">
            <span class="pc-badge pc-badge-bad" data-status="awaiting_upload" data-upload="failed">
              Upload failed
            </span>
            <span class="pc-doc-error">{upload.error}</span>
          </div>
        );
      }
      const uploading = upload?.phase === 'uploading';
      return (
        <div class="pc-doc-state">
          <span class="pc-badge" data-status="awaiting_upload">
            {uploading
              ? `Uploading ${percent(upload.progress)}%`
              : upload
                ? 'Uploaded'
                : 'Waiting for upload'}
          </span>
          {uploading ? (
            <progress max={100} value={percent(upload.progress)} aria-label={`Uploading ${doc.filename}`} />
          ) : null}
        </div>
      );
    }
    case 'processing':
      return (
        <div class="pc-doc-state">
          <span class="pc-badge" data-status="processing">
            Processing
          </span>
          {doc.chunksTotal > 0 ? (
            <>
              <progress
                max={doc.chunksTotal}
                value={doc.chunksIndexed}
                aria-label={`Indexing ${doc.filename}`}
              />
              <span class="pc-muted">
                {doc.chunksIndexed} of {doc.chunksTotal} passages indexed
              </span>
            </>
          ) : (
            <progress aria-label={`Reading ${doc.filename}`} />
          )}
        </div>
      );
    case 'ready':
      return (
        <div class="pc-doc-state">
          <span class="pc-badge" data-status="ready">
            Ready
          </span>
          <span class="pc-muted">
            {doc.chunksTotal} {doc.chunksTotal === 1 ? 'passage' : 'passages'}
          </span>
        </div>
      );
    case 'failed':
      return (
        <div class="pc-doc-state">
          <span class="pc-badge" data-status="failed">
            Failed
          </span>
          {doc.error ? <span class="pc-doc-error">{doc.error}</span> : null}
        </div>
      );
  }
}
