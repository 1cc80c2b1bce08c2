// Validate a .glb or .gltf file with the Khronos glTF validator and print its JSON report.
//
//   node tests/tools/validate_gltf.mjs FILE
//
// The validator is the npm package gltf-validator, installed by `make install` into
// .venv/node (NODE_PATH is not needed: the import below resolves from that folder).
// Exit status: 0 when the report has no errors, 1 when it has some, 2 when the validator
// could not run (missing package, unreadable file).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const venvNode = path.resolve(here, "..", "..", ".venv", "node", "package.json");

let validator;
try {
  validator = createRequire(venvNode)("gltf-validator");
} catch (err) {
  console.error(`gltf-validator is not installed in ${path.dirname(venvNode)}: run \`make install\``);
  process.exit(2);
}

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate_gltf.mjs FILE.glb|FILE.gltf");
  process.exit(2);
}

let bytes;
try {
  bytes = new Uint8Array(fs.readFileSync(file));
} catch (err) {
  console.error(`cannot read ${file}: ${err.message}`);
  process.exit(2);
}

const folder = path.dirname(path.resolve(file));
try {
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 0,
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        fs.readFile(path.resolve(folder, decodeURIComponent(uri)), (err, data) =>
          err ? reject(err.toString()) : resolve(new Uint8Array(data)));
      }),
  });
  console.log(JSON.stringify(report, null, 2));
  // exitCode, not exit(): exit() cuts a long report short when stdout is a pipe
  process.exitCode = report.issues.numErrors > 0 ? 1 : 0;
} catch (err) {
  console.error(`validator failed on ${file}: ${err}`);
  process.exit(2);
}
