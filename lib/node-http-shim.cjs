// What bundles get for `node:http` (lib/bundling.ts aliases it here). An ES `import … from
// 'node:http'` makes Node build the module's ES facade, which reads every export, the lazy ones
// too: on Node 24 that loads undici, about 50 ms of every cold start. Through this CommonJS module,
// esbuild's interop reads an export only when code uses it, as `require` would.
module.exports = process.getBuiltinModule('node:http');
