import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  DOCUMENTS,
  type EvalDocument,
  type EvalQuestion,
  QUESTIONS,
  type QuestionKind,
} from '../../bench/eval/set.ts';
import { extractDocument } from '../../shared/ingestion/extract.ts';
import { DOCUMENT_TYPES, type DocumentType, type Section } from '../../shared/ingestion/types.ts';

// The labelled retrieval set (bench/eval/set.ts) is consistent with itself and with what the real
// extractor makes of the real documents in ../shared/corpus/: every label names a page or heading the
// extractor produces, and every evidence phrase is in the text of one of its labelled pages/sections.

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CORPUS = resolve(REPO_ROOT, '../shared/corpus');
const present = existsSync(CORPUS);

const MINIMUMS: Record<QuestionKind, number> = {
  paraphrase: 50,
  identifier: 30,
  followup: 18,
  unanswerable: 18,
};
const TOTAL_MINIMUM = 130;

const normalise = (text: string) => text.replace(/\s+/g, ' ').trim().toLowerCase();

function typeOf(document: EvalDocument): DocumentType {
  const entry = Object.entries(DOCUMENT_TYPES).find(([, spec]) =>
    (spec.contentTypes as readonly string[]).includes(document.contentType),
  );
  if (!entry) throw new Error(`${document.id}: unknown content type ${document.contentType}`);
  return entry[0] as DocumentType;
}

const byId = new Map(DOCUMENTS.map((document) => [document.id, document]));
const answerable = QUESTIONS.filter((question) => question.kind !== 'unanswerable');
const label = (question: EvalQuestion) => `${question.id}: ${question.question}`;

describe('the labelled retrieval set', () => {
  it('has unique question and document ids', () => {
    const ids = QUESTIONS.map((question) => question.id);
    expect(ids.filter((id, index) => ids.indexOf(id) !== index)).toEqual([]);
    const docIds = DOCUMENTS.map((document) => document.id);
    expect(docIds.filter((id, index) => docIds.indexOf(id) !== index)).toEqual([]);
  });

  it('meets the minimum count of every kind, and in total', () => {
    const short = Object.entries(MINIMUMS)
      .map(([kind, minimum]) => ({ kind, minimum, count: QUESTIONS.filter((q) => q.kind === kind).length }))
      .filter(({ minimum, count }) => count < minimum);
    expect(short).toEqual([]);
    expect(QUESTIONS.length).toBeGreaterThanOrEqual(TOTAL_MINIMUM);
  });

  it('covers at least six documents, each with answerable questions (paraphrases among them)', () => {
    expect(DOCUMENTS.length).toBeGreaterThanOrEqual(6);
    for (const document of DOCUMENTS) {
      const about = answerable.filter((question) =>
        question.expect.some((source) => source.doc === document.id),
      );
      expect({
        doc: document.id,
        paraphrase: about.some((question) => question.kind === 'paraphrase'),
      }).toEqual({
        doc: document.id,
        paraphrase: true,
      });
    }
  });

  it('references only documents it declares, with PDF pages or HTML headings as fits the type', () => {
    for (const question of QUESTIONS) {
      for (const source of question.expect) {
        const document = byId.get(source.doc);
        expect({ question: question.id, doc: source.doc, known: document !== undefined }).toEqual({
          question: question.id,
          doc: source.doc,
          known: true,
        });
        if (!document) continue;
        const pdf = typeOf(document) === 'pdf';
        const labels = pdf ? source.pages : source.headings;
        expect({ question: question.id, labels: (labels?.length ?? 0) > 0 }).toEqual({
          question: question.id,
          labels: true,
        });
        expect({ question: question.id, wrongLabel: pdf ? source.headings : source.pages }).toEqual({
          question: question.id,
          wrongLabel: undefined,
        });
      }
    }
  });

  it('gives every answerable question a source and a short evidence phrase', () => {
    for (const question of answerable) {
      expect({ question: label(question), sources: question.expect.length > 0 }).toEqual({
        question: label(question),
        sources: true,
      });
      const length = question.evidence?.length ?? 0;
      expect({ question: label(question), evidenceLength: length >= 10 && length <= 80 }).toEqual({
        question: label(question),
        evidenceLength: true,
      });
    }
  });

  it('gives unanswerable questions no sources and no evidence', () => {
    for (const question of QUESTIONS.filter((q) => q.kind === 'unanswerable')) {
      expect({ id: question.id, expect: question.expect, evidence: question.evidence }).toEqual({
        id: question.id,
        expect: [],
        evidence: undefined,
      });
    }
  });

  it('gives history (one or two earlier turns) to follow-ups only', () => {
    for (const question of QUESTIONS) {
      const turns = question.history?.length ?? 0;
      const ok = question.kind === 'followup' ? turns >= 1 && turns <= 2 : question.history === undefined;
      expect({ id: question.id, ok }).toEqual({ id: question.id, ok: true });
    }
  });
});

describe(`the labelled retrieval set against the real documents in ${CORPUS}`, () => {
  if (!present) {
    it.skip(`skipped: the corpus folder ${CORPUS} is missing (it lives beside the checkout)`, () => {});
    return;
  }

  /** Per document: normalised text per page (PDF) or per heading (HTML). */
  const units = new Map<string, Map<string, string>>();

  beforeAll(async () => {
    for (const document of DOCUMENTS) {
      const type = typeOf(document);
      const bytes = new Uint8Array(readFileSync(join(CORPUS, document.path)));
      const { sections } = await extractDocument(bytes, type);
      const byUnit = new Map<string, string>();
      const keyOf = (section: Section) => (type === 'pdf' ? String(section.page) : section.heading);
      for (const section of sections) {
        const key = keyOf(section);
        if (key === undefined) continue;
        byUnit.set(key, `${byUnit.get(key) ?? ''} ${normalise(section.text)}`);
      }
      units.set(document.id, byUnit);
    }
  });

  it('labels only pages and headings that the extractor produces for that document', () => {
    const missing: string[] = [];
    for (const question of answerable) {
      for (const source of question.expect) {
        const byUnit = units.get(source.doc);
        for (const key of [...(source.pages ?? []).map(String), ...(source.headings ?? [])]) {
          if (!byUnit?.has(key)) missing.push(`${question.id} → ${source.doc} ${JSON.stringify(key)}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('finds every evidence phrase in one of the labelled pages or sections', () => {
    const unfound: string[] = [];
    for (const question of answerable) {
      const evidence = normalise(question.evidence ?? '');
      const texts = question.expect.flatMap((source) =>
        [...(source.pages ?? []).map(String), ...(source.headings ?? [])].map(
          (key) => units.get(source.doc)?.get(key) ?? '',
        ),
      );
      if (!texts.some((text) => text.includes(evidence)))
        unfound.push(`${question.id}: ${question.evidence}`);
    }
    expect(unfound).toEqual([]);
  });
});
