// Validates an AsyncAPI document with the official parser (@asyncapi/parser, with its Avro schema parser
// registered, from $ASYNCAPI_PARSER_DIR) and prints what it read as JSON: whether it is valid, the errors, the
// channels (with the fields of their messages' payloads) and the operations it found.
//   node e2e/map/validate-asyncapi.cjs document.yaml
const fs = require('fs');
const path = require('path');
const modules = path.join(process.env.ASYNCAPI_PARSER_DIR, 'node_modules');
const { Parser } = require(path.join(modules, '@asyncapi', 'parser'));
const { AvroSchemaParser } = require(path.join(modules, '@asyncapi', 'avro-schema-parser'));

(async () => {
  const parser = new Parser();
  parser.registerSchemaParser(AvroSchemaParser());
  const { document, diagnostics } = await parser.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const errors = diagnostics.filter((d) => d.severity === 0);
  const fields = (channel) => {
    const names = new Set();
    for (const message of channel.messages().all()) {
      const payload = message.payload();
      const properties = payload ? payload.properties() : undefined;
      for (const name of Object.keys(properties || {})) names.add(name);
    }
    return [...names].sort();
  };
  const out = {
    valid: document !== undefined && errors.length === 0,
    errors: errors.map((d) => ({ code: d.code, message: d.message, path: d.path })),
    warnings: diagnostics.filter((d) => d.severity === 1).map((d) => d.message),
    channels: document
      ? document.channels().all().map((c) => ({ id: c.id(), address: c.address(), payloadFields: fields(c) }))
      : [],
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
