// Cline has no CLI command that connects to an MCP server; its bundled core library (@cline/core) is what the
// agent uses. Register the servers from a cline_mcp_settings.json, list one server's tools and call read_file.
// Usage: node cline_check.mjs CLINE_PACKAGE_DIR SETTINGS_FILE SERVER_NAME
// Prints one JSON line {"connected", "tools", "call", "error"}; exit 0 only when all worked.
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [pkgDir, settings, server] = process.argv.slice(2);
const out = { connected: false, tools: null, call: false, error: "" };
let manager;
try {
  const core = await import(pathToFileURL(join(pkgDir, "node_modules/@cline/core/dist/index.js")).href);
  manager = new core.InMemoryMcpManager({
    clientFactory: core.createDefaultMcpServerClientFactory({ settingsPath: settings }),
  });
  const registered = await core.registerMcpServersFromSettingsFile(manager, { filePath: settings });
  if (!registered.some((r) => r.name === server)) throw new Error(`${server} not registered from ${settings}`);
  const tools = await manager.listTools(server);
  out.connected = true;
  out.tools = tools.length;
  const r = await manager.callTool({ serverName: server, toolName: "read_file", arguments: { path: "README.md" } });
  const text = (r?.content ?? []).map((c) => c.text ?? "").join(" ");
  if (r?.isError) out.error = "read_file returned isError: " + text.slice(0, 200);
  else if (!text.includes("codebox-clients-check")) out.error = "read_file result lacks the README text: " + JSON.stringify(r).slice(0, 200);
  else out.call = true;
} catch (e) {
  out.error = out.error || String(e?.message ?? e).split("\n")[0];
  const snap = manager?.listServers?.().find((s) => s.name === server);
  if (snap?.lastError && !out.error.includes(snap.lastError)) out.error += ` (lastError: ${snap.lastError})`;
} finally {
  try { await manager?.dispose(); } catch {}
}
console.log(JSON.stringify(out));
process.exit(out.connected && out.tools && out.call ? 0 : 1);
