#!/usr/bin/env node
// The `codebox` command of the npm package: finds the platform package npm installed beside this one (an
// optional dependency; npm installs only the one whose os, cpu and libc match) and runs its binary with this
// process's arguments and stdio, forwarding signals and the exit status. Node cannot exec in place, so the binary
// is a child; on stdio MCP the client's pipes are the child's own, so nothing is copied through Node.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");
const path = require("path");

// "platform arch" -> the package holding the binary. scripts/package writes this table.
const PACKAGES = @PACKAGE_TABLE@;

function isMusl() {
  // glibc's Node reports its version here; a musl build does not.
  const report = process.report && process.report.getReport ? process.report.getReport() : null;
  return report ? !report.header.glibcVersionRuntime : false;
}

function binaryPath() {
  if (process.env.CODEBOX_BINARY) return process.env.CODEBOX_BINARY;
  const key = `${process.platform} ${process.arch}${process.platform === "linux" && isMusl() ? " musl" : ""}`;
  const pkg = PACKAGES[key];
  if (!pkg) {
    const known = Object.keys(PACKAGES).join(", ");
    fail(`codebox has no prebuilt binary for ${key} (there are: ${known}); build it from source with ` +
      "cargo install, or set CODEBOX_BINARY to a codebox binary.");
  }
  let dir;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    fail(`the package ${pkg}, which holds codebox's binary for ${key}, is not installed. It is an optional ` +
      "dependency of codebox: reinstall without --omit=optional (or --no-optional), or set CODEBOX_BINARY " +
      "to a codebox binary.");
  }
  return path.join(dir, "bin", "codebox");
}

function fail(message) {
  process.stderr.write(`codebox: ${message}\n`);
  process.exit(1);
}

const bin = binaryPath();
// npm keeps the executable bit of files it unpacks, but a copy through another tool may not.
try {
  fs.accessSync(bin, fs.constants.X_OK);
} catch {
  try {
    fs.chmodSync(bin, 0o755);
    fs.chmodSync(path.join(path.dirname(bin), "codebox-sandbox"), 0o755);
  } catch (e) {
    if (!fs.existsSync(bin)) fail(`the binary ${bin} is missing: reinstall codebox`);
  }
}
const child = spawn(bin, process.argv.slice(2), { stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => child.kill(sig));
}
child.on("error", (e) => fail(`cannot run ${bin}: ${e.message}`));
child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, so the caller sees what the binary saw.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code);
  }
});
