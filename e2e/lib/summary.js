// Prints the closing line of a browser run, "browser: N passed, N failed,
// N skipped", from Playwright's JSON report: the plain form CI reads.
"use strict";
const fs = require("fs");

const file = process.argv[2];
let stats;
try {
  stats = JSON.parse(fs.readFileSync(file, "utf8")).stats;
} catch (err) {
  console.log(`browser: no report at ${file} (${err.message})`);
  process.exit(1);
}
const passed = stats.expected + stats.flaky;
console.log(`browser: ${passed} passed, ${stats.unexpected} failed, ${stats.skipped} skipped`);
