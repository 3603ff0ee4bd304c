// Validates an AsyncAPI document with the official parser (@asyncapi/parser, from $ASYNCAPI_PARSER_DIR) and prints
// what it read as JSON: whether it is valid, the errors, and the channels and operations it found.
//   node e2e/map/validate-asyncapi.cjs document.yaml
const fs = require('fs');
const path = require('path');
const { Parser } = require(path.join(process.env.ASYNCAPI_PARSER_DIR, 'node_modules', '@asyncapi', 'parser'));

(async () => {
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const errors = diagnostics.filter((d) => d.severity === 0);
  const out = {
    valid: document !== undefined && errors.length === 0,
    errors: errors.map((d) => ({ code: d.code, message: d.message, path: d.path })),
    warnings: diagnostics.filter((d) => d.severity === 1).length,
    channels: document ? document.channels().all().map((c) => ({ id: c.id(), address: c.address() })) : [],
    operations: document
      ? document.operations().all().map((o) => ({
          id: o.id(),
          action: o.action(),
          channels: o.channels().all().map((c) => c.id()),
        }))
      : [],
  };
  console.log(JSON.stringify(out));
  process.exit(out.valid ? 0 : 1);
})().catch((e) => {
  console.log(JSON.stringify({ valid: false, errors: [{ message: String(e) }] }));
  process.exit(1);
});
