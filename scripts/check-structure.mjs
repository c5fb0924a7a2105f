// The structure rules `npm run lint` holds the code to (DESIGN.md §7, issue 14): no import cycle
// between the project's modules, no function over 80 lines outside the web UI and the tests, and
// zod imported as a namespace (`import * as z`): one `import { z } from 'zod'` anywhere keeps all
// of zod, every locale included, in a function's bundle.
// A factory that returns an object of methods counts as one function: its methods belong in
// functions of their own. Prints what breaks a rule, and exits 1 if anything does.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCircular, parseDependencyTree, prettyCircular } from 'dpdm';
import ts from 'typescript';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
const MAX_FUNCTION_LINES = 80;
/** The server side, the CDK app, the local runtime, the benchmarks and the scripts. */
const CHECKED = ['bin', 'lib', 'functions', 'shared', 'local', 'bench', 'scripts'];
const CYCLE_ROOTS = [...CHECKED, 'web'];

function sourceFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|tsx|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const isFunction = (node) =>
  ts.isFunctionDeclaration(node) ||
  ts.isFunctionExpression(node) ||
  ts.isArrowFunction(node) ||
  ts.isMethodDeclaration(node) ||
  ts.isConstructorDeclaration(node) ||
  ts.isGetAccessorDeclaration(node) ||
  ts.isSetAccessorDeclaration(node);

function functionName(node) {
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)))
    return parent.name.getText();
  return '(anonymous)';
}

function longFunctions(file) {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found = [];
  const line = (position) => source.getLineAndCharacterOfPosition(position).line + 1;
  const visit = (node) => {
    if (isFunction(node)) {
      const lines = line(node.getEnd()) - line(node.getStart(source)) + 1;
      if (lines > MAX_FUNCTION_LINES)
        found.push(
          `${relative(ROOT, file)}:${line(node.getStart(source))} ${functionName(node)} (${lines} lines)`,
        );
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const checkedFiles = CHECKED.flatMap((dir) => sourceFiles(join(ROOT, dir)));
const long = checkedFiles.flatMap(longFunctions);
const wholeZod = checkedFiles.filter((file) =>
  /^import \{[^}]*\bz\b[^}]*\} from 'zod';/m.test(readFileSync(file, 'utf8')),
);

const tree = await parseDependencyTree(
  CYCLE_ROOTS.map((dir) => `${dir}/**/*.{ts,tsx}`),
  { context: ROOT, tsconfig: join(ROOT, 'tsconfig.json'), transform: false, skipDynamicImports: false },
);
const cycles = parseCircular(tree);

if (long.length > 0) console.error(`Functions over ${MAX_FUNCTION_LINES} lines:\n  ${long.join('\n  ')}`);
if (cycles.length > 0) console.error(`Import cycles:\n${prettyCircular(cycles, '  ')}`);
if (wholeZod.length > 0)
  console.error(
    `Import zod as \`import * as z from 'zod'\` (bundles keep all of zod otherwise):\n  ${wholeZod.map((file) => relative(ROOT, file)).join('\n  ')}`,
  );
if (long.length > 0 || cycles.length > 0 || wholeZod.length > 0) process.exit(1);
console.log(
  `Structure: ${Object.keys(tree).length} modules without an import cycle; no function over ${MAX_FUNCTION_LINES} lines; zod imported as a namespace.`,
);
