// Parse an AsyncAPI document with the official parser; exit 1 listing every error-level diagnostic.
// Usage: node validate.mjs <asyncapi.json>
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs <asyncapi.json>");
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"));
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
for (const d of diagnostics) {
  const level = d.severity === DiagnosticSeverity.Error ? "error" : "warning";
  console.log(`${level}: ${d.code} ${d.message} at ${JSON.stringify(d.path)}`);
}
if (errors.length > 0 || !document) {
  console.error(`${errors.length} error(s): the document is not valid AsyncAPI`);
  process.exit(1);
}
const channels = document.channels().length;
const operations = document.operations().length;
const messages = document.components().messages().length;
console.log(JSON.stringify({ valid: true, version: document.version(), channels, operations, messages }));
