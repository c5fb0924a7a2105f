// Pieces every screen uses: loading and error states, labelled fields with their inline error,
// copy buttons, a two-step delete, a hook for a form's submission and one that loads data for a
// screen.

import type { ComponentChildren, InputHTMLAttributes } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, describeError } from '../shared/api.ts';

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Parley console`;
  }, [title]);
}

export function Loading({ what = 'Loading…' }: { what?: string }) {
  return (
    <p class="pc-loading" role="status">
      {what}
    </p>
  );
}

/** An API error in words, with the fields a 400 named. */
export function ErrorAlert({ error, label }: { error: unknown; label?: (path: string) => string }) {
  const details = error instanceof ApiError ? error.details : [];
  return (
    <div class="pc-alert pc-alert-error" role="alert">
      <p>{describeError(error)}</p>
      {details.length > 0 ? (
        <ul>
          {details.map((d) => (
            <li key={`${d.path}:${d.message}`}>
              {d.path ? <strong>{label ? label(d.path) : d.path}</strong> : null}
              {d.path ? ': ' : ''}
              {d.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** A polite announcement (saved, copied, uploaded): read out without moving focus. */
export function Status({ children }: { children?: ComponentChildren }) {
  return (
    <p class="pc-status" role="status" aria-live="polite">
      {children}
    </p>
  );
}

/** The messages of a 400's details by field path (several for one field are joined). */
export function fieldErrors(error: unknown): Record<string, string> {
  const errors: Record<string, string> = {};
  if (error instanceof ApiError) {
    for (const { path, message } of error.details) {
      errors[path] = errors[path] ? `${errors[path]}; ${message}` : message;
    }
  }
  return errors;
}

export interface FieldAria {
  id: string;
  'aria-invalid'?: boolean;
  'aria-describedby'?: string;
}

/** A label, the control (rendered by the child with the ids it needs), a hint and the field's error. */
export function Field(props: {
  id: string;
  label: string;
  error?: string;
  hint?: string;
  wide?: boolean;
  /** A checkbox: the control before its label, on one line. */
  check?: boolean;
  children: (aria: FieldAria) => ComponentChildren;
}) {
  const { id, label, error, hint, check } = props;
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  const control = props.children({
    id,
    ...(error ? { 'aria-invalid': true } : {}),
    ...(described ? { 'aria-describedby': described } : {}),
  });
  return (
    <div
      class={`pc-field${check ? ' pc-check' : ''}${props.wide ? ' pc-field-wide' : ''}${error ? ' pc-field-invalid' : ''}`}
    >
      {check ? control : null}
      <label for={id}>{label}</label>
      {check ? null : control}
      {hint ? (
        <p class="pc-hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p class="pc-field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** What an InputField passes on to its input, besides the ids, the value and the handler. */
export interface InputAttributes {
  type?: 'text' | 'search' | 'number' | 'password' | 'url';
  name?: string;
  maxLength?: number;
  min?: number;
  max?: number;
  step?: string;
  inputMode?: 'text' | 'numeric' | 'decimal' | 'url';
  placeholder?: string;
  required?: boolean;
  autocomplete?: string;
  spellcheck?: boolean;
}

/** A Field whose control is one line of input, bound to a string. */
export function InputField({
  id,
  label,
  error,
  hint,
  value,
  onValue,
  ...input
}: InputAttributes & {
  id: string;
  label: string;
  error?: string;
  hint?: string;
  value: string;
  onValue: (value: string) => void;
}) {
  // Preact types an input's attributes per `type`; these are checked by InputAttributes above.
  const attributes = input as InputHTMLAttributes;
  return (
    <Field id={id} label={label} error={error} hint={hint}>
      {(aria) => (
        <input {...aria} {...attributes} value={value} onInput={(e) => onValue(e.currentTarget.value)} />
      )}
    </Field>
  );
}

/** A form's submission: busy while it runs, and what it failed with (cleared when it is tried again). */
export interface Submit {
  busy: boolean;
  error: unknown;
  setError: (error: unknown) => void;
  /** Runs `work`; a failure goes to `onFailure` first, then into `error`. Busy ends either way. */
  run: (work: () => Promise<void>, onFailure?: (failure: unknown) => void) => Promise<void>;
}

export function useSubmit(): Submit {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  async function run(work: () => Promise<void>, onFailure?: (failure: unknown) => void) {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (failure) {
      onFailure?.(failure);
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return { busy, error, setError, run };
}

/** Copies text, with a fallback for browsers without the async clipboard, and says so. */
export function CopyButton({ text, what }: { text: string; what: string }) {
  const [done, setDone] = useState('');
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setDone('Copied');
    } catch {
      // No clipboard permission: select the text in a scratch field and use the old command.
      const area = document.createElement('textarea');
      area.value = text;
      document.body.append(area);
      area.select();
      const copied = document.execCommand('copy');
      area.remove();
      setDone(copied ? 'Copied' : 'Copy failed: select the text and copy it yourself');
    }
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setDone(''), 2500);
  }

  return (
    <span class="pc-copy">
      <button type="button" class="pc-secondary" onClick={copy} aria-label={`Copy ${what}`}>
        Copy
      </button>
      <span class="pc-copy-status" role="status" aria-live="polite">
        {done}
      </span>
    </span>
  );
}

/** A value to copy (a URL, a snippet, a key) beside its copy button. */
export function CopyBox({ text, what, label }: { text: string; what: string; label?: string }) {
  return (
    <div class="pc-copybox">
      {label ? <span class="pc-copybox-label">{label}</span> : null}
      <code>{text}</code>
      <CopyButton text={text} what={what} />
    </div>
  );
}

/** "Delete", then a question that must be answered: nothing is deleted by one stray click. */
export function ConfirmDelete(props: {
  what: string;
  onConfirm: () => Promise<void>;
  label?: string;
  confirmLabel?: string;
  /** What answering yes does, after the question (by default, that it cannot be undone). */
  consequence?: string;
  /** The button's accessible name where several sit on one screen (one per row): which thing it acts on. */
  buttonName?: string;
}) {
  const [asking, setAsking] = useState(false);
  const { busy, error, run } = useSubmit();
  const cancel = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (asking) cancel.current?.focus();
  }, [asking]);

  const confirm = () =>
    run(async () => {
      await props.onConfirm();
      setAsking(false);
    });

  if (!asking) {
    return (
      <button type="button" class="pc-danger" onClick={() => setAsking(true)} aria-label={props.buttonName}>
        {props.label ?? 'Delete'}
      </button>
    );
  }
  return (
    <fieldset class="pc-confirm">
      <legend>{`${props.label ?? 'Delete'} ${props.what}? ${props.consequence ?? 'This cannot be undone.'}`}</legend>
      <div class="pc-actions">
        <button type="button" class="pc-danger" onClick={confirm} disabled={busy}>
          {busy ? 'Working…' : (props.confirmLabel ?? 'Yes, delete')}
        </button>
        <button
          type="button"
          class="pc-secondary"
          ref={cancel}
          onClick={() => setAsking(false)}
          disabled={busy}
        >
          Cancel
        </button>
      </div>
      {error ? <ErrorAlert error={error} /> : null}
    </fieldset>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (update: (current: T | undefined) => T | undefined) => void;
}

/** Loads a screen's data when its inputs change; a late answer for old inputs is dropped. */
export function useLoad<T>(load: () => Promise<T>, inputs: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [round, setRound] = useState(0);
  const latest = useRef(0);

  // The caller names what the load depends on (`inputs`); `round` is a reload.
  useEffect(() => {
    const mine = ++latest.current;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    load().then(
      (data) => {
        if (mine === latest.current) setState({ data, loading: false });
      },
      (error: unknown) => {
        if (mine === latest.current) setState((s) => ({ ...s, error, loading: false }));
      },
    );
  }, [...inputs, round]);

  useEffect(
    () => () => {
      latest.current = -1; // unmounted: drop whatever is still on its way
    },
    [],
  );

  const reload = useCallback(() => setRound((r) => r + 1), []);
  const setData = useCallback(
    (update: (current: T | undefined) => T | undefined) => setState((s) => ({ ...s, data: update(s.data) })),
    [],
  );
  return { data: state.data, error: state.error, loading: state.loading, reload, setData };
}

export const isNotFound = (error: unknown): boolean => error instanceof ApiError && error.status === 404;
