// pdfjs-dist ships no type declarations for its worker module; extract/pdf.ts only hands the module
// to pdf.js (as `globalThis.pdfjsWorker`), which reads `WorkerMessageHandler` from it.
declare module 'pdfjs-dist/legacy/build/pdf.worker.mjs' {
  export const WorkerMessageHandler: unknown;
}
